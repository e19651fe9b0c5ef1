/**
 * boundedText: an outbound answer (a JWKS, a policy webhook's reply) is read only up to its limit;
 * a larger one is refused while it streams, never held whole.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { boundedText, guardedAgent, guardedFetch } from '../../lib/net/ssrf.js'

t.test('answers within the limit are read; a larger one is refused and its stream cancelled', async (t) => {
  let bigSent = -1
  const server = createServer((req, res) => {
    if (req.url === '/small') { res.end('{"keys":[]}'); return }
    // 64 MiB announced and streamed in 64 KiB pieces: the reader must stop long before the end.
    res.writeHead(200, { 'content-type': 'application/json' })
    const piece = Buffer.alloc(64 * 1024, 0x20)
    let sent = 0
    res.on('close', () => { bigSent = sent })
    const more = (): void => {
      while (sent < 1024) {
        sent++
        if (!res.write(piece)) { res.once('drain', more); return }
      }
      res.end()
    }
    more()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dispatcher = guardedAgent({ allowLoopback: true })
  t.teardown(() => dispatcher.close())

  t.equal(await boundedText(await guardedFetch(`${base}/small`, { dispatcher }), 1024), '{"keys":[]}')
  const big = await guardedFetch(`${base}/big`, { dispatcher })
  await t.rejects(boundedText(big, 256 * 1024, 'key set'), /key set is too large \(over 262144 bytes\)/)
  for (let i = 0; i < 500 && bigSent < 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(bigSent >= 0 && bigSent < 1024, `the large answer was cut off, not read to its end (${bigSent} of 1024 pieces sent)`)
})
