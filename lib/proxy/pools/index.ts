/**
 * Upstream pools (`upstream_pools`, a Weir extension): the order in which one request tries the
 * upstreams, when some of them share load by session.
 *
 * Invariants:
 *   - Without pools nothing changes: `plan` returns the candidates as given (ordered failover).
 *   - A pool's members keep one place in the failover order: where the first of them stands among
 *     the request's candidates (config validation keeps them listed together). Upstreams outside
 *     pools keep their places.
 *   - Inside a pool, a request with a key (the Claude Code session id, else the principal's
 *     subject) tries the members in the key's rendezvous order (rendezvous.ts), so every request of
 *     a session goes to the same member on every worker and replica, with no shared state. A key-
 *     less request tries the least loaded first (fewest in flight, then lowest header latency).
 *   - Members that are cooling down (health.ts) come after every available member, in the same
 *     order among themselves: a session on a cooled member moves to its next choice, and stays
 *     there until the member's probe has answered well; then the member takes its share back.
 *     Cooled members are still tried last, so a pool never refuses a request by itself.
 *   - Only the candidates routing and groups left for the request are ordered; a member the model
 *     is not available on is simply absent.
 * Health, in-flight counts and latency are per worker (a worker learns from its own answers).
 */
import type { PoolConfig } from '../../config/schema.js'
import { recordPoolEvent } from '../../telemetry/metrics.js'
import type { Candidate } from '../routing.js'
import { Health, retryAfterMs } from './health.js'
import { type Member, hashKey, member, score } from './rendezvous.js'

/** What a request should try, and which member's half-open probe it holds (-1 for none). */
export interface Plan {
  readonly candidates: readonly Candidate[]
  readonly probe: number
  /**
   * The upstream this session goes to while every member is healthy (its first choice, cooldowns
   * ignored), or -1 when the candidates are kept as given: whose provider produced the session's
   * earlier turns (lib/proxy/crossing.ts).
   */
  readonly home: number
}

interface Slot {
  readonly pool: number
  readonly member: Member
  readonly health: Health
  inFlight: number
  /** Smoothed time to response headers, ms (0 until the first answer). */
  latency: number
}

/** A snapshot of one member, for metrics and tests. */
export interface MemberState {
  readonly pool: string
  readonly upstream: string
  readonly weight: number
  readonly state: 'healthy' | 'cooling' | 'half-open'
  readonly cooldownMs: number
  readonly inFlight: number
  readonly latencyMs: number
}

const PROBE_TIMEOUT_MS = 60_000

export class UpstreamPools {
  /** By upstream index; undefined for upstreams in no pool. */
  private readonly slots: Array<Slot | undefined>
  private readonly names: readonly string[]

  /** `upstreams`: the configured upstream names, in order. Null when no pool is configured. */
  static fromConfig (pools: readonly PoolConfig[] | undefined, upstreams: readonly string[], now: () => number = Date.now): UpstreamPools | null {
    if (pools === undefined || pools.length === 0) return null
    return new UpstreamPools(pools, upstreams, now)
  }

  constructor (pools: readonly PoolConfig[], upstreams: readonly string[], private readonly now: () => number = Date.now) {
    this.slots = upstreams.map(() => undefined)
    this.names = pools.map((p) => p.name)
    pools.forEach((p, pi) => {
      const opts = { cooldownMs: p.cooldown_seconds * 1000, maxCooldownMs: p.max_cooldown_seconds * 1000, probeTimeoutMs: PROBE_TIMEOUT_MS }
      for (const m of p.members) {
        const i = upstreams.indexOf(m.upstream)
        if (i < 0) throw new Error(`upstream_pools: unknown upstream '${m.upstream}'`)
        this.slots[i] = { pool: pi, member: member(m.upstream, m.weight), health: new Health(opts), inFlight: 0, latency: 0 }
      }
    })
  }

  /** Order `candidates` for a request with this key ('' for none). */
  plan (candidates: readonly Candidate[], key: string): Plan {
    const slots = this.slots
    if (!candidates.some((c) => slots[c.upstream] !== undefined)) return { candidates, probe: -1, home: -1 }
    const now = this.now()
    const k = key === '' ? null : hashKey(key)
    const out: Candidate[] = []
    const done = new Set<number>()
    let probe = -1
    let home = -1
    for (const c of candidates) {
      const s = slots[c.upstream]
      if (s === undefined) { if (home < 0) home = c.upstream; out.push(c); continue }
      if (done.has(s.pool)) continue
      done.add(s.pool)
      const members = candidates.filter((x) => slots[x.upstream]?.pool === s.pool)
      const value = (x: Candidate): number => {
        const m = slots[x.upstream] as Slot
        return k !== null ? score(k, m.member) : -(m.inFlight * 1e6 + m.latency)
      }
      const scored = members.map((x) => ({ x, v: value(x), ok: (slots[x.upstream] as Slot).health.available(now) }))
      if (home < 0) home = scored.reduce((a, b) => b.v > a.v ? b : a).x.upstream
      scored.sort((p, q) => Number(q.ok) - Number(p.ok) || q.v - p.v)
      const first = scored[0]
      if (first !== undefined && probe < 0 && first.ok && (slots[first.x.upstream] as Slot).health.takeProbe(now)) probe = first.x.upstream
      for (const e of scored) out.push(e.x)
    }
    return { candidates: out, probe, home }
  }

  /** A request to upstream `i` was sent. */
  begin (i: number): void {
    const s = this.slots[i]
    if (s !== undefined) s.inFlight++
  }

  /** The request to upstream `i` ended (answered, failed or aborted). */
  end (i: number): void {
    const s = this.slots[i]
    if (s !== undefined && s.inFlight > 0) s.inFlight--
  }

  /** Upstream `i` answered with response headers after `ms`. `probe`: the request held its probe. */
  answered (i: number, status: number, raw: readonly Buffer[], ms: number, probe: boolean): void {
    const s = this.slots[i]
    if (s === undefined) return
    const now = this.now()
    s.latency = s.latency === 0 ? ms : s.latency * 0.8 + ms * 0.2
    const was = s.health.state(now)
    s.health.answered(status, now, status === 429 || status >= 500 ? retryAfterMs(raw, now) : undefined, probe)
    this.transition(s, was, now)
  }

  /**
   * Count a member's move into a cooldown (from healthy), back into one (from half-open: its probe
   * or a late request failed), or back into service. So per worker, cooldowns − recoveries is 1
   * while the member is out and 0 otherwise (report.ts).
   */
  private transition (s: Slot, was: string, now: number): void {
    const is = s.health.state(now)
    if (is === 'cooling' && was === 'healthy') recordPoolEvent(this.names[s.pool] as string, s.member.name, 'cooldown')
    else if (is === 'cooling' && was === 'half-open') recordPoolEvent(this.names[s.pool] as string, s.member.name, 'probe_failed')
    else if (is === 'healthy' && was !== 'healthy') recordPoolEvent(this.names[s.pool] as string, s.member.name, 'recovered')
  }

  /** Upstream `i` gave no answer: connection error or timeout. */
  failed (i: number, probe: boolean): void {
    const s = this.slots[i]
    if (s === undefined) return
    const now = this.now()
    const was = s.health.state(now)
    s.health.failed(now, probe)
    this.transition(s, was, now)
  }

  /**
   * This object is being dropped (a reload changed the pools or upstreams, and the last request
   * that could use it has ended: lib/services.ts closes it as an owned resource). The members it
   * keeps out come back in the fresh object, so each counts as `recovered`, keeping
   * cooldowns − recoveries equal to the workers that keep a member out (report.ts).
   */
  retire (): void {
    const now = this.now()
    for (const s of this.slots) {
      if (s !== undefined && s.health.state(now) !== 'healthy') recordPoolEvent(this.names[s.pool] as string, s.member.name, 'recovered')
    }
  }

  /** The request holding upstream `i`'s probe ended without an answer from it. */
  releaseProbe (i: number): void {
    this.slots[i]?.health.releaseProbe()
  }

  /** Every member's state (for metrics and tests). */
  snapshot (): MemberState[] {
    const now = this.now()
    const out: MemberState[] = []
    for (const s of this.slots) {
      if (s === undefined) continue
      out.push({
        pool: this.names[s.pool] as string,
        upstream: s.member.name,
        weight: s.member.weight,
        state: s.health.state(now),
        cooldownMs: s.health.remaining(now),
        inFlight: s.inFlight,
        latencyMs: Math.round(s.latency),
      })
    }
    return out
  }
}
