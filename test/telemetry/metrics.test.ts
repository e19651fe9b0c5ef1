/**
 * The gateway's own metrics: the hot-path recorder (lib/telemetry/metrics.ts), the primary's
 * registry and its Prometheus text (registry.ts), and both outputs (exporter.ts) against a fake
 * OTLP collector and a real scrape.
 */
import t from 'tap'
import { request } from 'undici'
import { onEvent } from '../../lib/ipc.js'
import { startMetricsOutputs } from '../../lib/telemetry/exporter.js'
import {
  LATENCY_BOUNDS_MS, METRICS_EVENT, type MetricsSnapshot, disableRecorder, enableRecorder, flushMetrics,
  recordBlock, recordRequest, recordSpend, recordTokens, recordUpstream, takeSnapshot,
} from '../../lib/telemetry/metrics.js'
import { MetricsRegistry } from '../../lib/telemetry/registry.js'
import { startCollector, until } from './collector.js'

process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

t.test('recorder: a no-op until enabled, then deltas per flush', async (t) => {
  recordRequest('/v1/messages', 200, 12)
  t.equal(takeSnapshot(), null, 'nothing recorded while off')
  enableRecorder(60_000)
  t.teardown(() => disableRecorder())
  recordRequest('/v1/messages', 200, 3, 'anthropic')
  recordRequest('/v1/messages', 200, 7, 'anthropic')
  recordRequest('/v1/messages', 200, 400_000, 'anthropic')
  recordRequest('/v1/messages', 429, 1)
  recordUpstream('anthropic', 529, 80)
  recordUpstream('anthropic', 0, 10_000)
  recordTokens('claude-sonnet-4-5', 100, 20, 5)
  recordTokens('claude-sonnet-4-5', 1, 2, 0, 7)
  recordSpend(1.5)
  recordSpend(-3)
  recordSpend(0.25)
  recordBlock('spend_limit')
  recordBlock('spend_limit')
  const s = takeSnapshot() as MetricsSnapshot
  const ok = s.requests.find((r) => r.status === 200)
  t.same({ route: ok?.route, upstream: ok?.upstream, count: ok?.count, sum: ok?.sum }, { route: '/v1/messages', upstream: 'anthropic', count: 3, sum: 400_010 })
  t.equal(ok?.buckets.length, LATENCY_BOUNDS_MS.length + 1)
  t.equal(ok?.buckets[0], 1, '3 ms in the first bucket (≤5)')
  t.equal(ok?.buckets[1], 1, '7 ms in the second (≤10)')
  t.equal(ok?.buckets.at(-1), 1, '400 s past the last bound')
  t.same(s.requests.find((r) => r.status === 429)?.upstream, '', 'no upstream')
  t.same(s.upstreams.map((u) => [u.upstream, u.status, u.count]), [['anthropic', 529, 1], ['anthropic', 0, 1]])
  t.same(s.tokens, [{ model: 'claude-sonnet-4-5', input: 101, output: 22, cacheRead: 5, cacheWrite: 7 }])
  t.equal(s.spendCents, 1.75, 'negative amounts ignored')
  t.same(s.blocks, [{ reason: 'spend_limit', count: 2 }])
  t.equal(takeSnapshot(), null, 'reset after a snapshot')

  for (let i = 0; i < 250; i++) recordTokens(`model-${i}`, 1, 1)
  const capped = takeSnapshot() as MetricsSnapshot
  // One model was already known: 199 more fit under the cap of 200, the other 51 share 'other'.
  t.equal(capped.tokens.length, 200, 'at most 200 distinct values per label')
  t.equal(capped.tokens.find((x) => x.model === 'other')?.input, 51)
  t.notOk(capped.tokens.some((x) => x.model === 'model-199'))

  const got: MetricsSnapshot[] = []
  const off = onEvent(METRICS_EVENT, (m: MetricsSnapshot) => { got.push(m) })
  t.teardown(off)
  recordBlock('model_denied')
  flushMetrics()
  t.same(got.map((m) => m.blocks), [[{ reason: 'model_denied', count: 1 }]], 'flush sends the snapshot to the primary')
})

t.test('registry: sums snapshots; Prometheus text; gauges', async (t) => {
  const r = new MetricsRegistry()
  const snap = (ms: number): MetricsSnapshot => ({
    requests: [{ route: '/v1/messages', upstream: 'a"b', status: 200, count: 2, sum: ms * 2, buckets: LATENCY_BOUNDS_MS.map((b) => b === 10 ? 2 : 0).concat(0) }],
    upstreams: [],
    tokens: [{ model: 'm', input: 10, output: 5, cacheRead: 0, cacheWrite: 0 }],
    spendCents: 2.5,
    blocks: [],
  })
  r.merge(snap(8))
  r.merge(snap(9))
  r.gauge('weir.test.depth', 'Depth', '{item}', ['queue'], () => [[['q1'], 3]])
  r.gauge('weir.test.broken', 'Throws', '1', [], () => { throw new Error('x') })
  const text = r.prometheus()
  t.match(text, '# TYPE weir_requests_total counter')
  t.match(text, 'weir_requests_total{route="/v1/messages",status="200",upstream="a\\"b"} 4')
  t.match(text, '# TYPE weir_request_duration_milliseconds histogram')
  t.match(text, 'weir_request_duration_milliseconds_bucket{route="/v1/messages",status="200",upstream="a\\"b",le="5"} 0')
  t.match(text, 'weir_request_duration_milliseconds_bucket{route="/v1/messages",status="200",upstream="a\\"b",le="10"} 4')
  t.match(text, 'weir_request_duration_milliseconds_bucket{route="/v1/messages",status="200",upstream="a\\"b",le="+Inf"} 4')
  t.match(text, 'weir_request_duration_milliseconds_sum{route="/v1/messages",status="200",upstream="a\\"b"} 34')
  t.match(text, 'weir_tokens_total{model="m",type="input"} 20')
  t.match(text, 'weir_spend_total 5')
  t.match(text, 'weir_test_depth{queue="q1"} 3')
  t.notMatch(text, /^weir_test_broken/m, 'a failing gauge is skipped, not fatal')
  for (const line of text.trim().split('\n')) t.match(line, /^(# (HELP|TYPE) \S+ .*|[a-z_]+(\{.*\})? [-+\d.Inf]+)$/, `well-formed: ${line}`)
})

t.test('outputs: OTLP push reaches a collector; Prometheus scrape; final export at stop', async (t) => {
  const c = await startCollector()
  t.teardown(() => c.close())
  const r = new MetricsRegistry()
  r.merge({ requests: [{ route: '/v1/messages', upstream: 'up', status: 200, count: 1, sum: 42, buckets: [0, 0, 0, 1, ...Array(LATENCY_BOUNDS_MS.length - 3).fill(0)] }], upstreams: [], tokens: [], spendCents: 0, blocks: [] })
  const out = await startMetricsOutputs({ otlp: { url: `${c.url}/base/`, headers: { 'x-key': 'k' }, interval_seconds: 1 }, prometheus: { port: 0 } }, r, '127.0.0.1')
  let stopped = false
  t.teardown(async () => { if (!stopped) await out.stop() })
  const first = await until('an OTLP export', () => c.received.find((x) => x.path === '/base/v1/metrics'))
  t.equal(first.headers['x-key'], 'k')
  t.match(first.headers['content-type'], /application\/json/)
  const doc = JSON.parse(first.body.toString()) as any // eslint-disable-line @typescript-eslint/no-explicit-any
  const rm = doc.resourceMetrics[0]
  t.ok(rm.resource.attributes.some((a: any) => a.key === 'service.name' && a.value.stringValue === 'weir')) // eslint-disable-line @typescript-eslint/no-explicit-any
  const metrics = rm.scopeMetrics.flatMap((s: any) => s.metrics) // eslint-disable-line @typescript-eslint/no-explicit-any
  const hist = metrics.find((m: any) => m.name === 'weir.request.duration') // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(hist?.unit, 'ms')
  t.equal(Number(hist?.histogram.dataPoints[0].count), 1)
  t.same(hist?.histogram.dataPoints[0].bucketCounts.map(Number).slice(0, 5), [0, 0, 0, 1, 0])
  t.ok(metrics.some((m: any) => m.name === 'weir.requests' && m.sum.isMonotonic)) // eslint-disable-line @typescript-eslint/no-explicit-any

  t.ok(out.prometheusUrl)
  const res = await request(out.prometheusUrl as string)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain; version=0\.0\.4/)
  t.match(await res.body.text(), 'weir_requests_total{route="/v1/messages",status="200",upstream="up"} 1')
  const other = await request((out.prometheusUrl as string).replace('/metrics', '/'))
  t.equal(other.statusCode, 404, 'nothing else is served on the metrics port')
  await other.body.dump()
  const post = await request(out.prometheusUrl as string, { method: 'POST', body: 'x' })
  t.equal(post.statusCode, 405)
  await post.body.dump()

  r.merge({ requests: [], upstreams: [], tokens: [], spendCents: 0, blocks: [{ reason: 'late', count: 1 }] })
  const before = c.received.length
  stopped = true
  await out.stop()
  const last = c.received.slice(before).map((x) => x.body.toString()).join('')
  t.match(last, /"weir\.blocks"/, 'stop exports once more')
  await t.rejects(request(out.prometheusUrl as string), 'the scrape port is closed')
})

t.test('outputs: a busy Prometheus port is a clear error', async (t) => {
  const r = new MetricsRegistry()
  const a = await startMetricsOutputs({ prometheus: { port: 0 } }, r, '127.0.0.1')
  t.teardown(() => a.stop())
  const port = Number(new URL(a.prometheusUrl as string).port)
  await t.rejects(startMetricsOutputs({ prometheus: { port } }, r, '127.0.0.1'), /telemetry\.gateway_metrics\.prometheus: cannot listen on 127\.0\.0\.1:\d+/)
})
