/**
 * The relay's moving parts against a real fake collector: one destination's queue, retries,
 * breaker and shutdown (lib/telemetry/destination.ts), and the relay's fan-out, budget and drop
 * accounting through the real Piscina pool (lib/telemetry/relay.ts).
 */
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { guardedAgent } from '../../lib/net/ssrf.js'
import { type Batch, DEFAULT_DESTINATION_OPTIONS, Destination, type DestinationOptions, type DropReason, scrubUrl } from '../../lib/telemetry/destination.js'
import { Relay, bodyFormat, type BatchMessage } from '../../lib/telemetry/relay.js'
import { MetricsRegistry } from '../../lib/telemetry/registry.js'
import { setLogSink } from '../../lib/log.js'
import { acquirePrimaryPool } from '../../lib/workers-pool.js'
import { startCollector, until } from './collector.js'
import { decode, otlpBody } from './otlp-fixtures.js'

const logLines: string[] = []
setLogSink((l) => { logLines.push(l) })
t.teardown(() => setLogSink(undefined))

const agent = guardedAgent({ allowLoopback: true })
t.teardown(() => agent.destroy())

function harness (url: string, opts: Partial<DestinationOptions> = {}, cfg: { headers?: Record<string, string> } = {}) {
  const drops: DropReason[] = []
  let sent = 0
  let released = 0
  const d = new Destination({ url, headers: cfg.headers ?? {}, metrics: true, logs: false, traces: false }, agent,
    { ...DEFAULT_DESTINATION_OPTIONS, ...opts }, { onDrop: (_d, _b, r) => { drops.push(r) }, onSent: () => { sent++ } })
  const batch = (body = Buffer.from('x')): Batch => ({ signal: 'metrics', body, json: false, gzip: false, release: () => { released++ } })
  return { d, drops, batch, sent: () => sent, released: () => released }
}

t.test('delivers with the right path and headers; destination headers win; retries 5xx', async (t) => {
  const c = await startCollector()
  t.teardown(() => c.close())
  c.answer = (_r, n) => n < 2 ? 503 : 200
  const h = harness(`${c.url}/otlp/`, { attempts: 3 }, { headers: { 'X-Collector-Key': 'k1', 'Content-Type': 'application/x-protobuf; v=1' } })
  h.d.offer({ ...h.batch(Buffer.from('abc')), gzip: true })
  await until('delivery', () => h.sent() === 1)
  t.equal(c.seen(), 3, 'two 503s retried')
  const r = c.received[2]
  t.equal(r?.path, '/otlp/v1/metrics', 'base path kept, trailing slash trimmed')
  t.equal(r?.headers['x-collector-key'], 'k1')
  t.equal(r?.headers['content-type'], 'application/x-protobuf; v=1', 'destination headers override framing headers')
  t.equal(r?.headers['content-encoding'], 'gzip')
  t.notOk(r?.headers.authorization)
  t.equal(r?.raw.toString(), 'abc')
  t.equal(h.released(), 1)
  t.same(h.drops, [])
  t.equal(scrubUrl('https://user:secret@otel.example.com:4318/base/?token=x'), 'https://otel.example.com:4318/base')
})

t.test('Retry-After is honoured; 400 is not retried and does not trip the breaker', async (t) => {
  const c = await startCollector()
  t.teardown(() => c.close())
  c.answer = (_r, n) => n === 0 ? { status: 429, headers: { 'retry-after': '0' } } : 200
  const h = harness(c.url, { attempts: 2, breakAfter: 2 })
  h.d.offer(h.batch())
  await until('delivery after 429', () => h.sent() === 1)
  c.answer = () => 400
  for (let i = 0; i < 3; i++) h.d.offer(h.batch())
  await until('three drops', () => h.drops.length === 3)
  t.same(h.drops, ['failed', 'failed', 'failed'])
  t.equal(c.seen(), 5, '429 then 200, then one attempt per 400')
  t.notOk(h.d.paused, 'payload errors do not pause the destination')
})

t.test('breaker: consecutive failures pause the destination, one probe reopens it', async (t) => {
  const c = await startCollector()
  t.teardown(() => c.close())
  c.answer = () => 500
  const h = harness(c.url, { attempts: 1, breakAfter: 2, pauseMs: 300, concurrency: 1 })
  h.d.offer(h.batch())
  h.d.offer(h.batch())
  await until('two failures', () => h.drops.length === 2)
  t.ok(h.d.paused)
  t.ok(logLines.some((l) => /failed 2 times in a row .*pausing it/.test(l)), 'trip is logged')
  h.d.offer(h.batch())
  t.equal(h.drops[2], 'circuit_open', 'dropped at once while paused')
  t.equal(c.seen(), 2, 'nothing sent while paused')
  await until('pause over', () => !h.d.paused)
  c.answer = () => 200
  h.d.offer(h.batch())
  h.d.offer(h.batch())
  await until('probe and follower delivered', () => h.sent() === 2)
  t.ok(logLines.some((l) => /accepting data again/.test(l)))
  t.equal(h.released(), 5)
})

t.test('a stuck collector: bounded queue, per-request timeout, shutdown aborts and releases', async (t) => {
  const c = await startCollector()
  t.teardown(() => c.close())
  c.answer = () => 'hang'
  const h = harness(c.url, { concurrency: 1, maxQueue: 3, attempts: 1, timeoutMs: 300, breakAfter: 100 })
  for (let i = 0; i < 10; i++) h.d.offer(h.batch())
  t.equal(h.d.inflight, 1)
  t.equal(h.d.queued, 3)
  t.same(h.drops, Array(6).fill('queue_full'), 'over the cap: dropped at once')
  await until('first request timed out', () => h.drops.includes('failed'))
  t.equal(h.d.inflight, 1, 'the next one went out')
  const t0 = Date.now()
  await h.d.close(50)
  t.ok(Date.now() - t0 < 2000, 'close does not wait for the collector')
  await until('everything released', () => h.released() === 10)
  t.ok(h.drops.filter((r) => r === 'shutdown').length >= 2)
  h.d.offer(h.batch())
  t.equal(h.drops.at(-1), 'shutdown', 'nothing is accepted after close')
})

t.test('relay: fan-out by signal, identity stamped in the pool, drops counted by reason', async (t) => {
  const a = await startCollector()
  const b = await startCollector()
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const pool = acquirePrimaryPool()
  t.teardown(() => pool.release())
  const registry = new MetricsRegistry()
  const relay = new Relay({
    forward_to: [
      { url: a.url, headers: {}, metrics: true, logs: true, traces: false },
      { url: b.url, headers: {}, metrics: true, logs: false, traces: false },
    ],
    resource_attributes: { 'team.name': 'core' },
  }, registry, pool, agent, { maxRequestBytes: 1 << 20 })
  t.teardown(() => relay.stop(0))
  const msg = (over: Partial<BatchMessage> & Pick<BatchMessage, 'signal' | 'body'>): BatchMessage =>
    ({ contentType: 'application/x-protobuf', encoding: '', sub: 'u-alice', email: 'alice@example.com', groups: ['eng'], ...over })
  const ab = (buf: Buffer): ArrayBuffer => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
  const spoof = { resource: { 'user.email': 'mallory@evil.example' }, record: {} }

  const body = ab(otlpBody('metrics', 'protobuf', spoof))
  relay.accept(msg({ signal: 'metrics', body }))
  relay.accept(msg({ signal: 'logs', body: ab(gzipSync(otlpBody('logs', 'json', spoof))), contentType: 'application/json; charset=utf-8', encoding: 'gzip' }))
  relay.accept(msg({ signal: 'traces', body: ab(otlpBody('traces', 'protobuf', spoof)) }))
  await until('a got metrics and logs', () => a.received.length === 2)
  await until('b got metrics', () => b.received.length === 1)
  t.equal(body.byteLength, 0, 'the body was transferred to the pool, not copied')
  for (const r of [...a.received, ...b.received]) {
    const signal = r.path === '/v1/logs' ? 'logs' : 'metrics'
    const d = decode(signal, String(r.headers['content-type']), r.body)
    t.equal(d.resources[0]?.['user.email'], 'alice@example.com', `${r.path}: stamped`)
    t.equal(d.resources[0]?.['team.name'], 'core')
  }
  t.equal(a.received.find((r) => r.path === '/v1/logs')?.headers['content-encoding'], 'gzip')
  t.equal(b.received[0]?.path, '/v1/metrics')

  relay.accept(msg({ signal: 'metrics', body: ab(Buffer.from('hello')), contentType: 'text/plain' }))
  relay.accept(msg({ signal: 'metrics', body: ab(Buffer.from('hello')), encoding: 'br' }))
  relay.accept(msg({ signal: 'metrics', body: ab(Buffer.from([0x0a, 0x09])) }))
  await until('malformed counted', () => relayDrops(registry, 'malformed') === 2)
  t.equal(relayDrops(registry, 'no_destination'), 1, 'traces: nobody opted in')
  t.equal(relayDrops(registry, 'unsupported_content_type'), 1)
  t.equal(relayDrops(registry, 'unsupported_encoding'), 1)
  t.equal(relay.stats().held, 0, 'nothing held once delivered')
  t.match(registry.prometheus(), /weir_telemetry_relayed_total\{destination="http:\/\/127\.0\.0\.1:\d+",signal="metrics"\} 1/)
  t.ok(logLines.some((l) => l.includes('"evt":"telemetry.dropped"')), 'the first drop is audited')
})

function relayDrops (registry: MetricsRegistry, reason: string): number {
  const m = registry.prometheus().split('\n').filter((l) => l.startsWith('weir_telemetry_dropped_total{') && l.includes(`reason="${reason}"`))
  return m.reduce((s, l) => s + Number(l.split(' ').at(-1)), 0)
}

t.test('relay budget: over the held-bytes budget or the pending cap, batches are dropped at once', async (t) => {
  const a = await startCollector()
  t.teardown(() => a.close())
  a.answer = () => 'hang'
  const pool = acquirePrimaryPool()
  t.teardown(() => pool.release())
  const registry = new MetricsRegistry()
  const relay = new Relay({ forward_to: [{ url: a.url, headers: {}, metrics: true, logs: false, traces: false }] }, registry, pool, agent,
    { maxRequestBytes: 1 << 20, maxHeldBytes: 64 * 1024, destination: { ...DEFAULT_DESTINATION_OPTIONS, timeoutMs: 60_000 } })
  const body = otlpBody('metrics', 'protobuf', { resource: {}, record: { pad: 'x'.repeat(4000) } })
  for (let i = 0; i < 100; i++) {
    relay.accept({ signal: 'metrics', contentType: '', encoding: '', sub: 'u', email: undefined, groups: [], body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer })
    t.ok(relay.stats().held <= 64 * 1024, 'held bytes never exceed the budget')
  }
  t.ok(relayDrops(registry, 'saturated') > 0, 'overflow counted as saturated')
  await relay.stop(0)
  await until('all released', () => relay.stats().held === 0 && relay.stats().pending === 0)
  t.equal(bodyFormat('Application/JSON; charset=utf-8'), 'json')
  t.equal(bodyFormat(''), 'protobuf')
  t.equal(bodyFormat('application/protobuf'), 'protobuf')
  t.equal(bodyFormat('text/plain'), null)
})

t.test('retarget: bodies still being stamped go to the collectors they were accepted for; later ones to the new list', async (t) => {
  const a = await startCollector()
  const b = await startCollector()
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const pool = acquirePrimaryPool()
  t.teardown(() => pool.release())
  const registry = new MetricsRegistry()
  const relay = new Relay({ forward_to: [{ url: a.url, headers: {}, metrics: true, logs: false, traces: false }] }, registry, pool, agent, { maxRequestBytes: 1 << 20 })
  t.teardown(() => relay.stop(0))
  const ab = (buf: Buffer): ArrayBuffer => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
  const msg = (marker: string): BatchMessage => ({
    signal: 'metrics', contentType: 'application/x-protobuf', encoding: '', sub: 'u-alice', email: undefined, groups: [],
    body: ab(otlpBody('metrics', 'protobuf', { resource: {}, record: { 'session.id': marker } })),
  })
  const marks = (got: typeof a.received): string[] =>
    [...new Set(got.flatMap((r) => decode('metrics', 'application/x-protobuf', r.body).records.map((x) => String(x['session.id']))))].sort()
  // Accepted and handed to the pool, not stamped yet, when the reload switches the destinations.
  for (let i = 0; i < 5; i++) relay.accept(msg(`a-${i}`))
  t.ok(relay.stats().pending > 0, 'bodies are still in the pool')
  const retired = relay.retarget({ forward_to: [{ url: b.url, headers: {}, metrics: true, logs: false, traces: false }] }, { maxRequestBytes: 1 << 20, graceMs: 30_000 })
  for (let i = 0; i < 3; i++) relay.accept(msg(`b-${i}`))
  await retired
  await until('three bodies at b', () => marks(b.received).length === 3)
  t.same(marks(a.received), ['a-0', 'a-1', 'a-2', 'a-3', 'a-4'], 'every body accepted before the switch reached a; the retirement waited for them')
  t.same(marks(b.received), ['b-0', 'b-1', 'b-2'])
  t.equal(relay.stats().dropped, 0)
})
