/**
 * The primary's shared Piscina pool (lib/workers-pool.ts): leases share one pool, tasks come from
 * any file, a full queue refuses at once, the last release destroys the pool.
 */
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { STAMP_TASK_FILE } from '../../lib/telemetry/otlp-task.js'
import { POOL_MAX_QUEUE, POOL_YOUNG_GENERATION_MB, PoolFull, acquirePrimaryPool, primaryPoolStats } from '../../lib/workers-pool.js'
import { decode, otlpBody } from './otlp-fixtures.js'

const SLOW = fileURLToPath(new URL('./fixtures/slow-task.js', import.meta.url))

t.test('two leases share one pool; transfer in, move out; last release destroys it', async (t) => {
  t.equal(primaryPoolStats(), null)
  const a = acquirePrimaryPool()
  const b = acquirePrimaryPool()
  const body = otlpBody('metrics', 'protobuf', { resource: {}, record: {} })
  const ab = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer
  const out = await a.run<ArrayBuffer>(STAMP_TASK_FILE, 'stamp', {
    body: ab, signal: 'metrics', json: false, gzip: false, identity: { sub: 's', groups: [] }, labels: {}, maxBytes: 1 << 20,
  }, [ab])
  t.equal(ab.byteLength, 0, 'the input buffer was transferred')
  t.ok(out instanceof ArrayBuffer)
  t.equal(decode('metrics', '', new Uint8Array(out)).resources[0]?.['user.id'], 's')
  t.equal(await b.run<number>(SLOW, 'spin', 1), 1, 'another file on the same pool')
  await t.rejects(a.run(STAMP_TASK_FILE, 'stamp', { body: new ArrayBuffer(2), signal: 'metrics', json: true, gzip: false, identity: { sub: 's', groups: [] }, labels: {}, maxBytes: 10 }), SyntaxError)
  await a.release()
  await a.release()
  t.not(primaryPoolStats(), null, 'still held by b')
  t.ok((primaryPoolStats()?.completed ?? 0) >= 2)
  await b.release()
  t.equal(primaryPoolStats(), null)
  await t.rejects(b.run(SLOW, 'spin', 1), /released/)
})

t.test('a full queue refuses at once with PoolFull', async (t) => {
  const p = acquirePrimaryPool()
  t.teardown(() => p.release())
  const runs = Array.from({ length: POOL_MAX_QUEUE + 20 }, async () => await p.run(SLOW, 'spin', 5).then(() => 'ok', (e: unknown) => e))
  const results = await Promise.all(runs)
  const full = results.filter((r) => r instanceof PoolFull)
  t.ok(full.length > 0, `${full.length} refused`)
  t.ok(results.filter((r) => r === 'ok').length >= POOL_MAX_QUEUE, 'everything accepted ran')
})

t.test('pool threads run with the young generation sized for batch work', async (t) => {
  const p = acquirePrimaryPool()
  t.teardown(() => p.release())
  const got = await p.run<{ maxYoungGenerationSizeMb?: number }>(SLOW, 'limits', null)
  t.equal(got.maxYoungGenerationSizeMb, POOL_YOUNG_GENERATION_MB)
})
