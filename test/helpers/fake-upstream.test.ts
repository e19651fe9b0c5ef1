/**
 * test/helpers/fake-upstream.ts: a `flood` answer waits for `drain` hundreds of times; each wait
 * removes its `close` listener again, so no listener piles up on the response (Node warns with
 * MaxListenersExceededWarning past 10) and every byte still arrives.
 */
import t from 'tap'
import { request } from 'node:http'
import { startFakeUpstream } from './fake-upstream.js'

t.test('a flood through many drain waits leaves no listeners behind', async (t) => {
  const chunk = Buffer.alloc(8000, 'x')
  const total = 8 * 1024 * 1024
  const fake = await startFakeUpstream(() => ({ kind: 'flood', chunk, totalBytes: total }))
  t.teardown(() => fake.close())
  const warnings: Error[] = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })

  const received = await new Promise<number>((resolve, reject) => {
    const rq = request(`${fake.url}/v1/messages`, { method: 'POST' }, (res) => {
      let n = 0
      // Read in bursts so the fake meets backpressure again and again.
      res.on('data', (d: Buffer) => { n += d.length; res.pause(); setImmediate(() => res.resume()) })
      res.on('end', () => { resolve(n) })
      res.on('error', reject)
    })
    rq.on('error', reject)
    rq.end('{}')
  })
  t.equal(received, Math.ceil(total / chunk.length) * chunk.length, 'every byte of the flood arrived')
  t.equal(await fake.requests[0]?.closed, 'finished')
  await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
  t.same(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), [], 'no listener leak warning')
})
