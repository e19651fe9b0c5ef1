/**
 * Per-upstream figures for the console's Upstreams page, primary side.
 *
 * Weir's own metrics (lib/telemetry/metrics.ts) already count every upstream attempt by status
 * with a latency histogram, but workers only record them, and the primary only keeps them, when
 * `telemetry.gateway_metrics` is configured. With the console on, workers record (routes.ts turns
 * the recorder on) and this module keeps a second cumulative store fed by the same snapshots, so
 * the page has figures whatever the telemetry config. Counts are since the primary started; memory
 * is bounded by the registry's series caps. The same store answers the pool report
 * (lib/proxy/pools/report.ts): per configured pool and member, configured vs actual share,
 * cooldowns, failed probes, workers keeping it out now and the prompt-cache hit ratio, with every
 * ratio null (never NaN) when there is nothing to divide.
 */
import type { PoolConfig } from '../config/schema.js'
import { onEvent } from '../ipc.js'
import { poolReport } from '../proxy/pools/report.js'
import { LATENCY_BOUNDS_MS, METRICS_EVENT, type MetricsSnapshot } from '../telemetry/metrics.js'
import { MetricsRegistry } from '../telemetry/registry.js'

let registry = new MetricsRegistry()
let since = Date.now()

/** Start keeping the figures (the primary calls this once with the admin module); returns the stop. */
export function watchConsoleStats (): () => void {
  registry = new MetricsRegistry()
  since = Date.now()
  return onEvent(METRICS_EVENT, (s: MetricsSnapshot) => { registry.merge(s) })
}

export interface UpstreamFigures {
  upstream: string
  attempts: number
  ok: number
  /** answered 429 */ rate_limited: number
  /** answered 5xx */ server_errors: number
  /** no answer (connection error, timeout) */ no_response: number
  /** answered 401/403/404: other statuses that fail over */ refused: number
  /** attempts that failed over to the next upstream or ended the request (the failover statuses above) */ failover_worthy: number
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
}

/** The upper bound of the bucket holding quantile `q` (null without data; beyond the last bound: the last bound). */
export function quantile (buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0)
  if (total === 0) return null
  const rank = Math.ceil(q * total)
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] as number
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(i, LATENCY_BOUNDS_MS.length - 1)] as number
  }
  return LATENCY_BOUNDS_MS.at(-1) as number
}

export function upstreamFigures (): { since: string, upstreams: UpstreamFigures[], refusals: Record<string, number> } {
  const by = new Map<string, UpstreamFigures & { buckets: number[] }>()
  const get = (u: string): UpstreamFigures & { buckets: number[] } => {
    let f = by.get(u)
    if (f === undefined) {
      f = { upstream: u, attempts: 0, ok: 0, rate_limited: 0, server_errors: 0, no_response: 0, refused: 0, failover_worthy: 0, p50_ms: null, p95_ms: null, p99_ms: null, buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) }
      by.set(u, f)
    }
    return f
  }
  for (const s of registry.upstreamRequests.series.values()) {
    const [u = '', st = '0'] = s.values
    const status = Number(st)
    const f = get(u)
    f.attempts += s.value
    if (status === 0) f.no_response += s.value
    else if (status === 429) f.rate_limited += s.value
    else if (status >= 500) f.server_errors += s.value
    else if (status === 401 || status === 403 || status === 404) f.refused += s.value
    else if (status < 400) f.ok += s.value
    if (status === 0 || status === 429 || status >= 500 || status === 401 || status === 403 || status === 404) f.failover_worthy += s.value
  }
  for (const h of registry.upstreamDuration.series.values()) {
    const f = get(h.values[0] ?? '')
    for (let i = 0; i < f.buckets.length; i++) f.buckets[i] = (f.buckets[i] as number) + (h.buckets[i] ?? 0)
  }
  const upstreams = [...by.values()].map(({ buckets, ...f }) => ({ ...f, p50_ms: quantile(buckets, 0.5), p95_ms: quantile(buckets, 0.95), p99_ms: quantile(buckets, 0.99) }))
  upstreams.sort((a, b) => a.upstream.localeCompare(b.upstream))
  const refusals: Record<string, number> = {}
  for (const s of registry.blocks.series.values()) refusals[s.values[0] ?? ''] = s.value
  return { since: new Date(since).toISOString(), upstreams, refusals }
}

/** One pool member's figures as the console's JSON says them (snake_case, like the rest of the API). */
export interface PoolMemberFigures {
  upstream: string
  weight: number
  /** weight / the pool's summed weights: the share of sessions hashing gives it */ configured_share: number
  /** client requests it served since the primary started */ requests: number
  /** requests / the pool's requests; null before the pool served any */ share: number | null
  cooldowns: number
  /** failed half-open probes that cooled it again */ probe_failures: number
  recoveries: number
  /** workers that keep it out (cooling or half-open) now */ workers_out: number
  input_tokens: number
  cache_read_tokens: number
  cache_write_tokens: number
  /** cache reads / (input + cache reads + cache writes); null before any token */ cache_hit_ratio: number | null
}

/** Every configured pool's figures (an empty list without pools). */
export function poolFigures (pools: readonly PoolConfig[] | undefined): Array<{ name: string, members: PoolMemberFigures[] }> {
  return poolReport(registry, pools).map((p) => ({
    name: p.name,
    members: p.members.map((m) => ({
      upstream: m.upstream,
      weight: m.weight,
      configured_share: m.configuredShare,
      requests: m.requests,
      share: m.share,
      cooldowns: m.cooldowns,
      probe_failures: m.probeFailures,
      recoveries: m.recoveries,
      workers_out: m.out,
      input_tokens: m.tokens.input,
      cache_read_tokens: m.tokens.cacheRead,
      cache_write_tokens: m.tokens.cacheWrite,
      cache_hit_ratio: m.cacheHitRatio,
    })),
  }))
}
