/**
 * Pool state as JSON, from the gateway's own metrics (primary side): for each pool, each member's
 * configured share, the share of requests it actually served, its cooldowns and recoveries, how
 * many workers keep it out right now, and its prompt-cache hit ratio. Meant for the console and
 * for an operator's `curl` (the console's `/console/api/upstreams` answers it as `pools_report`,
 * lib/console/stats.ts); the same numbers are in Prometheus/OTLP as `weir.requests{upstream}`,
 * `weir.pool.events{pool,upstream,event}` and `weir.upstream.tokens{upstream,type}`.
 *
 * Invariants:
 *   - Read-only and derived: nothing here is state of its own; two calls on the same registry give
 *     the same answer. Counts are cumulative since the primary started.
 *   - `out` = cooldowns − recoveries: on each worker a member's `cooldown` (healthy → cooling) is
 *     followed by exactly one `recovered` (a failed probe counts as `probe_failed`, index.ts
 *     `transition`), so the difference is the number of workers that keep it out now. A pools
 *     object that a reload replaces counts the members it kept out as `recovered` (index.ts
 *     `retire`): the fresh one starts them healthy. A worker that exits while keeping a member out
 *     leaves its cooldown counted until the primary restarts.
 *   - Ratios are null, never NaN, when there is nothing to divide.
 */
import type { PoolConfig } from '../../config/schema.js'
import type { MetricsRegistry } from '../../telemetry/registry.js'

export interface MemberReport {
  readonly upstream: string
  readonly weight: number
  /** weight / Σ weights of the pool: the share of sessions rendezvous hashing gives it. */
  readonly configuredShare: number
  /** Client requests it served (any route, any status). */
  readonly requests: number
  /** requests / the pool's requests; null before the pool served any. */
  readonly share: number | null
  readonly cooldowns: number
  /** Half-open probes (or late requests) that failed and put it back into a cooldown. */
  readonly probeFailures: number
  readonly recoveries: number
  /** Workers that keep it out (cooling or half-open) now. */
  readonly out: number
  readonly tokens: { readonly input: number, readonly cacheRead: number, readonly cacheWrite: number }
  /** cache_read / (input + cache_read + cache_write); null before any token. */
  readonly cacheHitRatio: number | null
}

export interface PoolReport { readonly name: string, readonly members: readonly MemberReport[] }

const ratio = (n: number, d: number): number | null => d > 0 ? n / d : null

/** The report for every configured pool (an empty list without pools). */
export function poolReport (registry: MetricsRegistry, pools: readonly PoolConfig[] | undefined): PoolReport[] {
  if (pools === undefined) return []
  const served = new Map<string, number>()
  for (const s of registry.requests.series.values()) {
    const upstream = s.values[2] as string
    served.set(upstream, (served.get(upstream) ?? 0) + s.value)
  }
  return pools.map((p) => {
    const total = p.members.reduce((a, m) => a + m.weight, 0)
    const poolRequests = p.members.reduce((a, m) => a + (served.get(m.upstream) ?? 0), 0)
    return {
      name: p.name,
      members: p.members.map((m) => {
        const tk = registry.upstreamTokens
        const tokens = { input: tk.get([m.upstream, 'input']), cacheRead: tk.get([m.upstream, 'cache_read']), cacheWrite: tk.get([m.upstream, 'cache_write']) }
        const cooldowns = registry.poolEvents.get([p.name, m.upstream, 'cooldown'])
        const recoveries = registry.poolEvents.get([p.name, m.upstream, 'recovered'])
        const requests = served.get(m.upstream) ?? 0
        return {
          upstream: m.upstream,
          weight: m.weight,
          configuredShare: m.weight / total,
          requests,
          share: ratio(requests, poolRequests),
          cooldowns,
          probeFailures: registry.poolEvents.get([p.name, m.upstream, 'probe_failed']),
          recoveries,
          out: Math.max(0, cooldowns - recoveries),
          tokens,
          cacheHitRatio: ratio(tokens.cacheRead, tokens.input + tokens.cacheRead + tokens.cacheWrite),
        }
      }),
    }
  })
}
