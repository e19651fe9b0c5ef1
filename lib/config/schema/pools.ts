/**
 * Schema for `upstream_pools` — Weir extension: groups of upstreams that share load by session.
 *
 * A pool names two or more `upstreams[]` entries with weights. Where no pool is configured the
 * upstreams are tried in their listed order, exactly as the reference does; a pool takes one place
 * in that order (where its members are listed, which must be next to each other), and inside it
 * each session is sent to the member rendezvous hashing picks for it (lib/proxy/pools/).
 *
 * Rules checked against the upstream list (`poolIssues`, called from the cross-section rules):
 * every member names a configured upstream, an upstream belongs to at most one pool (and appears
 * in it once), members sit next to each other in `upstreams`, pool names are distinct, and
 * `max_cooldown_seconds` is not below `cooldown_seconds`.
 */
import { type Infer, object } from 'superstruct'
import { type Issue, def, isObj, list, matching, minStr, num } from './kit.js'

const PoolMember = object({
  /** `upstreams[].name` of the member. */
  upstream: minStr(1, 'Expected the name of an upstream'), // Weir extension
  /** Relative share of sessions. Default 1. */
  weight: def(num({ gt: 0, max: 1000 }), 1), // Weir extension
})

const Pool = object({
  /** Shown in logs and metrics. */
  name: matching(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, dots, dashes or underscores'), // Weir extension
  members: list(PoolMember, 2, 'needs at least two members: a pool spreads sessions over several upstreams'), // Weir extension
  /** First cooldown after a 429, 529, other 5xx or timeout without `retry-after`, in seconds; doubled per failed probe. Default 10 s. */
  cooldown_seconds: def(num({ min: 1, max: 3600 }), 10), // Weir extension
  /** Longest cooldown, `retry-after` included, in seconds. Default 300 s. */
  max_cooldown_seconds: def(num({ min: 1, max: 3600 }), 300), // Weir extension
})

/** `upstream_pools` (Weir extension). Default none: ordered failover. */
export const UpstreamPoolsSchema = list(Pool)

export type PoolConfig = Infer<typeof Pool>

/**
 * Rules between `upstream_pools` and `upstreams` (paths relative to the config root). Read
 * defensively: an entry that failed its own checks may arrive uncoerced.
 */
export function poolIssues (pools: unknown, upstreams: unknown): Issue[] {
  if (!Array.isArray(pools) || !Array.isArray(upstreams)) return []
  const issues: Issue[] = []
  const position = new Map<string, number>()
  upstreams.forEach((u, i) => {
    if (isObj(u)) { const n = u.name ?? u.provider; if (typeof n === 'string' && !position.has(n)) position.set(n, i) }
  })
  const owner = new Map<string, { pool: number, name: string }>()
  const poolNames = new Set<string>()
  pools.forEach((p, i) => {
    if (!isObj(p) || !Array.isArray(p.members)) return
    const name = typeof p.name === 'string' ? p.name : `#${i + 1}`
    if (poolNames.has(name)) issues.push({ path: ['upstream_pools', i, 'name'], message: `duplicate pool name '${name}': give each pool a distinct name` })
    poolNames.add(name)
    const places: number[] = []
    p.members.forEach((m, j) => {
      if (!isObj(m) || typeof m.upstream !== 'string') return
      const at = ['upstream_pools', i, 'members', j, 'upstream']
      const pos = position.get(m.upstream)
      if (pos === undefined) { issues.push({ path: at, message: `references unknown upstream '${m.upstream}'` }); return }
      const prev = owner.get(m.upstream)
      if (prev !== undefined) {
        issues.push({ path: at, message: prev.pool === i ? `lists upstream '${m.upstream}' twice` : `upstream '${m.upstream}' is already in pool '${prev.name}': an upstream belongs to one pool at most` })
        return
      }
      owner.set(m.upstream, { pool: i, name })
      places.push(pos)
    })
    places.sort((a, b) => a - b)
    const gap = places.findIndex((pos, k) => k > 0 && pos !== (places[k - 1] as number) + 1)
    if (gap > 0) {
      const between = upstreams[(places[gap - 1] as number) + 1]
      const other = isObj(between) ? String(between.name ?? between.provider) : '?'
      issues.push({ path: ['upstream_pools', i, 'members'], message: `list the members of pool '${name}' next to each other in upstreams (the pool takes one place in the failover order); '${other}' sits between them` })
    }
    if (typeof p.cooldown_seconds === 'number' && typeof p.max_cooldown_seconds === 'number' && p.max_cooldown_seconds < p.cooldown_seconds) {
      issues.push({ path: ['upstream_pools', i, 'max_cooldown_seconds'], message: `must be at least cooldown_seconds (${p.cooldown_seconds})` })
    }
  })
  return issues
}

/**
 * One line per pool for `weir validate`: its members with their share of sessions, and the
 * failover order the pools make of `upstreams`.
 */
export function describePools (pools: readonly PoolConfig[] | undefined, upstreams: ReadonlyArray<{ name: string }>): string[] {
  if (pools === undefined || pools.length === 0) return []
  const out: string[] = []
  const poolOf = new Map<string, PoolConfig>()
  for (const p of pools) {
    const total = p.members.reduce((s, m) => s + m.weight, 0)
    const shares = p.members.map(m => `${m.upstream} (weight ${m.weight}, ${Math.round(100 * m.weight / total)}% of sessions)`)
    out.push(`pool ${p.name}: ${shares.join(', ')}; cooldown ${p.cooldown_seconds}s doubling to ${p.max_cooldown_seconds}s, retry-after honoured`)
    for (const m of p.members) poolOf.set(m.upstream, p)
  }
  const order: string[] = []
  for (const u of upstreams) {
    const p = poolOf.get(u.name)
    if (p === undefined) order.push(u.name)
    else if (p.members[0] !== undefined && !order.includes(`pool ${p.name}`)) order.push(`pool ${p.name}`)
  }
  out.push(`failover order: ${order.join(' → ')} (inside a pool, each Claude Code session keeps to one member while it is healthy)`)
  return out
}
