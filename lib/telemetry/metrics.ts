/**
 * The gateway's own metrics, recording side: what the hot path calls.
 *
 * Every thread (HTTP workers and the primary) records into module-level aggregates — counters and
 * fixed-bucket latency histograms keyed by a few short labels — and ships the deltas to the
 * primary every `flushMs` (2 s) with `sendToPrimary('telemetry.metrics', …)`. The primary sums them
 * (`registry.ts`) and exports them over OTLP and as Prometheus text (`exporter.ts`).
 *
 * Hot-path API (all synchronous, no I/O, no allocation once a label combination has been seen):
 *
 *   recordRequest(route, status, ms, upstream?)   one finished client request: the route's fixed
 *                                                 name (e.g. '/v1/messages', not the raw URL), the
 *                                                 status sent, wall time in ms, and the upstream
 *                                                 that answered, if any
 *   recordUpstream(upstream, status, ms)          one attempt against an upstream (failover makes
 *                                                 several per request); status 0 = no response
 *   recordTokens(model, input, output, cacheRead?, cacheWrite?)   usage of one response
 *   recordUpstreamTokens(upstream, input, cacheRead, cacheWrite)   input side of one response, by
 *                                                 the upstream that served it (cache-hit ratio per upstream)
 *   recordPoolEvent(pool, upstream, event)        an upstream pool member was cooled down, cooled again
 *                                                 after a failed probe, or recovered
 *                                                 ('cooldown') or took its share back ('recovered')
 *   recordSpend(cents)                            metered cost of one response, in US cents
 *   recordThreshold(period, threshold)            a spend alert decided (lib/spend/alerts.ts)
 *   recordBlock(reason)                           a request refused by policy or a cap
 *                                                 (e.g. 'spend_limit', 'model_denied', 'rate_limit')
 *
 * They are no-ops (one boolean test) until `enableRecorder()` runs, which `buildServices` does in
 * each HTTP worker and the telemetry module does in the primary when
 * `telemetry.gateway_metrics` is configured. Label values come from code or config, except
 * `model`: each label keeps at most 200 distinct values per thread between flushes and folds the
 * rest into 'other', so no client input can grow memory or series without bound.
 */
import { sendToPrimary } from '../ipc.js'

/** Histogram bucket upper bounds (inclusive), milliseconds. Streams can last minutes. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000])
/** Event name of the snapshots sent to the primary. */
export const METRICS_EVENT = 'telemetry.metrics'
const MAX_LABEL_VALUES = 200
const OTHER = 'other'

/** Latency observations for one label combination. */
export interface HistogramDelta {
  readonly count: number
  /** Sum of observed values, ms. */
  readonly sum: number
  /** Per-bucket counts, `LATENCY_BOUNDS_MS.length + 1` entries (the last is +Inf). */
  readonly buckets: number[]
}

/** What one thread sends the primary: everything recorded since its previous snapshot. */
export interface MetricsSnapshot {
  readonly requests: Array<HistogramDelta & { route: string, upstream: string, status: number }>
  readonly upstreams: Array<HistogramDelta & { upstream: string, status: number }>
  readonly tokens: Array<{ model: string, input: number, output: number, cacheRead: number, cacheWrite: number }>
  readonly spendCents: number
  readonly blocks: Array<{ reason: string, count: number }>
  /** Spend thresholds crossed (alerts decided), by period and threshold ("0.75"). */
  readonly thresholds?: Array<{ period: string, threshold: string, count: number }>
  /** Input-side tokens by the upstream that served them. */
  readonly upstreamTokens?: Array<{ upstream: string, input: number, cacheRead: number, cacheWrite: number }>
  /** Upstream pool member transitions. */
  readonly poolEvents?: Array<{ pool: string, upstream: string, event: string, count: number }>
}

class Series {
  count = 0
  sum = 0
  readonly buckets = new Float64Array(LATENCY_BOUNDS_MS.length + 1)

  observe (ms: number): void {
    this.count++
    this.sum += ms
    let i = 0
    while (i < LATENCY_BOUNDS_MS.length && ms > (LATENCY_BOUNDS_MS[i] as number)) i++
    ;(this.buckets[i] as number)++
  }

  take (): HistogramDelta {
    const d = { count: this.count, sum: this.sum, buckets: Array.from(this.buckets) }
    this.count = 0
    this.sum = 0
    this.buckets.fill(0)
    return d
  }
}

/** `map.get(key)`, creating the entry; past the label cap the key becomes 'other'. */
function slot<K, V> (map: Map<K, V>, key: K, other: K, make: () => V): V {
  let v = map.get(key)
  if (v !== undefined) return v
  if (map.size >= MAX_LABEL_VALUES) {
    v = map.get(other)
    if (v !== undefined) return v
    key = other
  }
  v = make()
  map.set(key, v)
  return v
}

const newMap = <K, V>(): Map<K, V> => new Map<K, V>()
const newSeries = (): Series => new Series()

// route → upstream ('' when none) → status → series
const requests = new Map<string, Map<string, Map<number, Series>>>()
// upstream → status → series
const upstreams = new Map<string, Map<number, Series>>()
// model → [input, output, cache read, cache write]
const tokens = new Map<string, Float64Array>()
const blocks = new Map<string, { n: number }>()
// `${period} ${threshold}` → count
const thresholds = new Map<string, { n: number }>()
// upstream → [input, cache read, cache write]
const upstreamTokens = new Map<string, Float64Array>()
// `${pool} ${upstream} ${event}` → count (names from config: no spaces in pool names)
const poolEvents = new Map<string, { n: number }>()
let spendCents = 0
let dirty = false
let on = false
let timer: NodeJS.Timeout | null = null

export function recordRequest (route: string, status: number, ms: number, upstream?: string): void {
  if (!on) return
  const byUpstream = slot(requests, route, OTHER, newMap<string, Map<number, Series>>)
  slot(slot(byUpstream, upstream ?? '', OTHER, newMap<number, Series>), status, 0, newSeries).observe(ms)
  dirty = true
}

export function recordUpstream (upstream: string, status: number, ms: number): void {
  if (!on) return
  slot(slot(upstreams, upstream, OTHER, newMap<number, Series>), status, 0, newSeries).observe(ms)
  dirty = true
}

export function recordTokens (model: string, input: number, output: number, cacheRead = 0, cacheWrite = 0): void {
  if (!on) return
  const t = slot(tokens, model, OTHER, () => new Float64Array(4))
  t[0] = (t[0] as number) + input
  t[1] = (t[1] as number) + output
  t[2] = (t[2] as number) + cacheRead
  t[3] = (t[3] as number) + cacheWrite
  dirty = true
}

export function recordUpstreamTokens (upstream: string, input: number, cacheRead: number, cacheWrite: number): void {
  if (!on) return
  const t = slot(upstreamTokens, upstream, OTHER, () => new Float64Array(3))
  t[0] = (t[0] as number) + input
  t[1] = (t[1] as number) + cacheRead
  t[2] = (t[2] as number) + cacheWrite
  dirty = true
}

export function recordPoolEvent (pool: string, upstream: string, event: 'cooldown' | 'probe_failed' | 'recovered'): void {
  if (!on) return
  slot(poolEvents, `${pool} ${upstream} ${event}`, OTHER, () => ({ n: 0 })).n++
  dirty = true
}

export function recordSpend (cents: number): void {
  if (!on || !(cents > 0)) return
  spendCents += cents
  dirty = true
}

/** A principal's spend crossed `threshold` (a fraction) of a `period` cap: one alert, decided once. */
export function recordThreshold (period: string, threshold: number): void {
  if (!on) return
  slot(thresholds, `${period} ${threshold}`, OTHER, () => ({ n: 0 })).n++
  dirty = true
}

export function recordBlock (reason: string): void {
  if (!on) return
  slot(blocks, reason, OTHER, () => ({ n: 0 })).n++
  dirty = true
}

/** Everything recorded since the last call, and reset. Null when nothing was recorded. */
export function takeSnapshot (): MetricsSnapshot | null {
  if (!dirty) return null
  dirty = false
  const snap: MetricsSnapshot = { requests: [], upstreams: [], tokens: [], spendCents, blocks: [], thresholds: [], upstreamTokens: [], poolEvents: [] }
  spendCents = 0
  for (const [route, byUp] of requests) {
    for (const [upstream, byStatus] of byUp) {
      for (const [status, s] of byStatus) if (s.count > 0) snap.requests.push({ route, upstream, status, ...s.take() })
    }
  }
  for (const [upstream, byStatus] of upstreams) {
    for (const [status, s] of byStatus) if (s.count > 0) snap.upstreams.push({ upstream, status, ...s.take() })
  }
  for (const [model, t] of tokens) {
    if (t.some((x) => x > 0)) snap.tokens.push({ model, input: t[0] as number, output: t[1] as number, cacheRead: t[2] as number, cacheWrite: t[3] as number })
    t.fill(0)
  }
  for (const [reason, b] of blocks) if (b.n > 0) { snap.blocks.push({ reason, count: b.n }); b.n = 0 }
  for (const [key, b] of thresholds) {
    if (b.n === 0) continue
    const [period = OTHER, threshold = OTHER] = key.split(' ')
    ;(snap.thresholds as Array<{ period: string, threshold: string, count: number }>).push({ period, threshold, count: b.n })
    b.n = 0
  }
  for (const [upstream, t] of upstreamTokens) {
    if (t.some((x) => x > 0)) (snap.upstreamTokens as NonNullable<MetricsSnapshot['upstreamTokens']>).push({ upstream, input: t[0] as number, cacheRead: t[1] as number, cacheWrite: t[2] as number })
    t.fill(0)
  }
  for (const [key, b] of poolEvents) {
    if (b.n === 0) continue
    const [pool = OTHER, upstream = OTHER, event = OTHER] = key.split(' ')
    ;(snap.poolEvents as NonNullable<MetricsSnapshot['poolEvents']>).push({ pool, upstream, event, count: b.n })
    b.n = 0
  }
  return snap
}

/** Send what was recorded so far to the primary now (also runs every `flushMs`). */
export function flushMetrics (): void {
  const snap = takeSnapshot()
  if (snap !== null) sendToPrimary(METRICS_EVENT, snap)
}

/** Start recording in this thread and shipping snapshots every `flushMs`. Idempotent. */
export function enableRecorder (flushMs = 2000): void {
  on = true
  if (timer === null) {
    timer = setInterval(flushMetrics, flushMs)
    timer.unref()
  }
}

/** Ship what is left and stop recording in this thread. */
export function disableRecorder (): void {
  if (timer !== null) { clearInterval(timer); timer = null }
  flushMetrics()
  on = false
}

