/**
 * The gateway's own metrics, primary side: one cumulative store that every thread's snapshots
 * (`metrics.ts`) are added into, plus gauges read on demand (pool and relay queue depths).
 *
 * It is read two ways, from the same numbers:
 *   - `producer()`: an OpenTelemetry `MetricProducer`, plugged into the SDK's
 *     `PeriodicExportingMetricReader`, so the OTLP exporter ships exact pre-aggregated
 *     histograms (the SDK's own instruments only accept single observations);
 *   - `prometheus()`: Prometheus text exposition format 0.0.4 for the `/metrics` endpoint.
 * Names are OpenTelemetry style (`weir.request.duration`); the Prometheus rendering turns dots into
 * underscores and adds `_total` to counters.
 *
 * This module imports OpenTelemetry for types only: the SDK is loaded by exporter.ts when an OTLP
 * output is configured, and hands its enums to `producer()`.
 */
import type { HrTime, ValueType } from '@opentelemetry/api'
import type { Resource } from '@opentelemetry/resources'
import type {
  AggregationTemporality, CollectionResult, DataPointType, MetricData, MetricProducer,
} from '@opentelemetry/sdk-metrics'
import { VERSION } from '../version.js'
import { LATENCY_BOUNDS_MS, type HistogramDelta, type MetricsSnapshot } from './metrics.js'

/** The OpenTelemetry enums `producer()` writes, taken from the SDK exporter.ts loaded. */
export interface OtelEnums {
  readonly ValueType: typeof ValueType
  readonly AggregationTemporality: typeof AggregationTemporality
  readonly DataPointType: typeof DataPointType
}

type Labels = readonly string[]
/** Series per metric beyond which new label combinations fold into one 'other' series. */
const MAX_SERIES = 2000

interface Meta { readonly name: string, readonly help: string, readonly unit: string, readonly labels: Labels }
interface CounterSeries { readonly values: readonly string[], value: number }
interface HistSeries { readonly values: readonly string[], count: number, sum: number, readonly buckets: number[] }
interface Gauge extends Meta { read: () => Iterable<readonly [readonly string[], number]> }

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)]

function seriesKey (values: readonly string[]): string { return values.join('\u0000') }

export class Counter {
  readonly series = new Map<string, CounterSeries>()
  constructor (readonly meta: Meta) {}

  /** Add `v` to the series with these label values (in `meta.labels` order). */
  add (values: readonly string[], v = 1): void {
    let key = seriesKey(values)
    let s = this.series.get(key)
    if (s === undefined) {
      if (this.series.size >= MAX_SERIES) { values = values.map(() => 'other'); key = seriesKey(values) }
      s = this.series.get(key) ?? { values: [...values], value: 0 }
      this.series.set(key, s)
    }
    s.value += v
  }

  /** Current value of one series (0 when never touched). */
  get (values: readonly string[]): number { return this.series.get(seriesKey(values))?.value ?? 0 }
}

export class Histogram {
  readonly series = new Map<string, HistSeries>()
  constructor (readonly meta: Meta, readonly bounds: readonly number[]) {}

  merge (values: readonly string[], d: HistogramDelta): void {
    let key = seriesKey(values)
    let s = this.series.get(key)
    if (s === undefined) {
      if (this.series.size >= MAX_SERIES) { values = values.map(() => 'other'); key = seriesKey(values) }
      s = this.series.get(key) ?? { values: [...values], count: 0, sum: 0, buckets: new Array<number>(this.bounds.length + 1).fill(0) }
      this.series.set(key, s)
    }
    s.count += d.count
    s.sum += d.sum
    for (let i = 0; i < s.buckets.length; i++) s.buckets[i] = (s.buckets[i] as number) + (d.buckets[i] ?? 0)
  }
}

const attrs = (labels: Labels, values: readonly string[]): Record<string, string> =>
  Object.fromEntries(labels.map((l, i) => [l, values[i] ?? '']))

function promName (m: Meta, suffix = ''): string { return m.name.replace(/[^A-Za-z0-9_]/g, '_') + suffix }
function escapeLabel (v: string): string { return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') }
function promLabels (labels: Labels, values: readonly string[], extra?: string): string {
  const parts = labels.map((l, i) => `${l.replace(/[^A-Za-z0-9_]/g, '_')}="${escapeLabel(values[i] ?? '')}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}
const promNum = (n: number): string => Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN'

export class MetricsRegistry {
  private readonly startMs = Date.now()
  private readonly counters: Counter[] = []
  private readonly histograms: Histogram[] = []
  private readonly gauges: Gauge[] = []

  // What every thread records (metrics.ts).
  readonly requests = this.counter('weir.requests', 'Client requests answered, by route, status and upstream', '{request}', ['route', 'status', 'upstream'])
  readonly requestDuration = this.histogram('weir.request.duration', 'Client request duration, by route, status and upstream', 'ms', ['route', 'status', 'upstream'])
  readonly upstreamRequests = this.counter('weir.upstream.requests', 'Attempts against upstreams, by upstream and status (0: no response)', '{request}', ['upstream', 'status'])
  readonly upstreamDuration = this.histogram('weir.upstream.duration', 'Upstream attempt duration, by upstream and status', 'ms', ['upstream', 'status'])
  readonly tokens = this.counter('weir.tokens', 'Tokens used, by model and type (input, output, cache_read, cache_write)', '{token}', ['model', 'type'])
  readonly spend = this.counter('weir.spend', 'Metered spend, US cents', '{cent}', [])
  readonly blocks = this.counter('weir.blocks', 'Requests refused by policy or caps, by reason', '{request}', ['reason'])
  readonly upstreamTokens = this.counter('weir.upstream.tokens', 'Input-side tokens by the upstream that served them and type (input, cache_read, cache_write): cache-hit ratio per upstream', '{token}', ['upstream', 'type'])
  readonly poolEvents = this.counter('weir.pool.events', 'Upstream pool members cooled down, cooled again after a failed probe, or back in service, by pool, upstream and event (cooldown, probe_failed, recovered)', '{event}', ['pool', 'upstream', 'event'])
  readonly thresholds = this.counter('weir.spend.thresholds', 'Spend alerts: a principal crossed a threshold of a cap, once per period', '{alert}', ['period', 'threshold'])

  counter (name: string, help: string, unit: string, labels: Labels): Counter {
    const c = new Counter({ name, help, unit, labels })
    this.counters.push(c)
    return c
  }

  histogram (name: string, help: string, unit: string, labels: Labels, bounds: readonly number[] = LATENCY_BOUNDS_MS): Histogram {
    const h = new Histogram({ name, help, unit, labels }, bounds)
    this.histograms.push(h)
    return h
  }

  /** A value read when metrics are collected (queue depths, thread counts). */
  gauge (name: string, help: string, unit: string, labels: Labels, read: Gauge['read']): void {
    this.gauges.push({ name, help, unit, labels, read })
  }

  /** Add one thread's snapshot. */
  merge (snap: MetricsSnapshot): void {
    for (const r of snap.requests) {
      const values = [r.route, String(r.status), r.upstream]
      this.requests.add(values, r.count)
      this.requestDuration.merge(values, r)
    }
    for (const u of snap.upstreams) {
      const values = [u.upstream, String(u.status)]
      this.upstreamRequests.add(values, u.count)
      this.upstreamDuration.merge(values, u)
    }
    for (const t of snap.tokens) {
      if (t.input > 0) this.tokens.add([t.model, 'input'], t.input)
      if (t.output > 0) this.tokens.add([t.model, 'output'], t.output)
      if (t.cacheRead > 0) this.tokens.add([t.model, 'cache_read'], t.cacheRead)
      if (t.cacheWrite > 0) this.tokens.add([t.model, 'cache_write'], t.cacheWrite)
    }
    if (snap.spendCents > 0) this.spend.add([], snap.spendCents)
    for (const b of snap.blocks) this.blocks.add([b.reason], b.count)
    for (const x of snap.thresholds ?? []) this.thresholds.add([x.period, x.threshold], x.count)
    for (const u of snap.upstreamTokens ?? []) {
      if (u.input > 0) this.upstreamTokens.add([u.upstream, 'input'], u.input)
      if (u.cacheRead > 0) this.upstreamTokens.add([u.upstream, 'cache_read'], u.cacheRead)
      if (u.cacheWrite > 0) this.upstreamTokens.add([u.upstream, 'cache_write'], u.cacheWrite)
    }
    for (const e of snap.poolEvents ?? []) this.poolEvents.add([e.pool, e.upstream, e.event], e.count)
  }

  private readGauge (g: Gauge): Array<readonly [readonly string[], number]> {
    try { return [...g.read()] } catch { return [] }
  }

  /** An OpenTelemetry MetricProducer over this store (cumulative temporality); `otel`: the loaded SDK's enums. */
  producer (resource: Resource, otel: OtelEnums): MetricProducer {
    const { ValueType, AggregationTemporality, DataPointType } = otel
    return {
      collect: async (): Promise<CollectionResult> => {
        const start = hr(this.startMs)
        const end = hr(Date.now())
        const metrics: MetricData[] = []
        const descriptor = (m: Meta, valueType = ValueType.DOUBLE) => ({ name: m.name, description: m.help, unit: m.unit, valueType })
        for (const c of this.counters) {
          if (c.series.size === 0) continue
          metrics.push({
            descriptor: descriptor(c.meta),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: [...c.series.values()].map((s) => ({ startTime: start, endTime: end, attributes: attrs(c.meta.labels, s.values), value: s.value })),
          })
        }
        for (const h of this.histograms) {
          if (h.series.size === 0) continue
          metrics.push({
            descriptor: descriptor(h.meta),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: [...h.series.values()].map((s) => ({
              startTime: start,
              endTime: end,
              attributes: attrs(h.meta.labels, s.values),
              value: { buckets: { boundaries: [...h.bounds], counts: [...s.buckets] }, sum: s.sum, count: s.count },
            })),
          })
        }
        for (const g of this.gauges) {
          const points = this.readGauge(g)
          if (points.length === 0) continue
          metrics.push({
            descriptor: descriptor(g),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: points.map(([values, value]) => ({ startTime: end, endTime: end, attributes: attrs(g.labels, values), value })),
          })
        }
        return { resourceMetrics: { resource, scopeMetrics: [{ scope: { name: 'weir', version: VERSION }, metrics }] }, errors: [] }
      },
    }
  }

  /** Prometheus text exposition (format 0.0.4). */
  prometheus (): string {
    const out: string[] = []
    const head = (name: string, help: string, type: string): void => {
      out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`)
    }
    for (const c of this.counters) {
      const name = promName(c.meta, '_total')
      head(name, c.meta.help, 'counter')
      for (const s of c.series.values()) out.push(`${name}${promLabels(c.meta.labels, s.values)} ${promNum(s.value)}`)
    }
    for (const h of this.histograms) {
      const name = promName(h.meta, h.meta.unit === 'ms' ? '_milliseconds' : '')
      head(name, h.meta.help, 'histogram')
      for (const s of h.series.values()) {
        let cum = 0
        h.bounds.forEach((b, i) => {
          cum += s.buckets[i] ?? 0
          out.push(`${name}_bucket${promLabels(h.meta.labels, s.values, `le="${b}"`)} ${cum}`)
        })
        out.push(`${name}_bucket${promLabels(h.meta.labels, s.values, 'le="+Inf"')} ${s.count}`)
        out.push(`${name}_sum${promLabels(h.meta.labels, s.values)} ${promNum(s.sum)}`)
        out.push(`${name}_count${promLabels(h.meta.labels, s.values)} ${s.count}`)
      }
    }
    for (const g of this.gauges) {
      const name = promName(g)
      head(name, g.help, 'gauge')
      for (const [values, v] of this.readGauge(g)) out.push(`${name}${promLabels(g.labels, values)} ${promNum(v)}`)
    }
    return out.join('\n') + '\n'
  }
}
