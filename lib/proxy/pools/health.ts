/**
 * The health of one pool member, as this worker has seen it: healthy, cooling down, or half-open.
 *
 * Invariants:
 *   - A 429, a 529 or another 5xx (501 excepted: a provider refusing an endpoint is not unwell), a
 *     connection error or a header timeout cools the member down until `now + d`: d is the
 *     answer's `retry-after` when it has one, else `cooldown` doubled for every failure in a row
 *     (1×, 2×, 4×…), always between 1 s and `maxCooldown`. Failures while already cooling (requests
 *     that were in flight) may lengthen the cooldown but do not count as another failure in a row.
 *   - A cooling member is never offered first; when its cooldown has passed it is half-open: one
 *     request (the probe) may be sent to it; until that probe answers, the member is still treated
 *     as cooling. A probe that is never sent (the request ended before reaching it) is released;
 *     one that never answers stops blocking after `probeTimeout`.
 *   - Any other answer (2xx, 4xx) from a member that is not cooling — a probe included — makes it
 *     healthy again and resets the failure count. An answer from a request sent before the member
 *     cooled changes nothing.
 * State is per worker and needs no coordination: each worker learns from its own answers.
 */

export type HealthState = 'healthy' | 'cooling' | 'half-open'

/** Statuses that cool a member down. */
export function isHealthFailure (status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501)
}

/**
 * `retry-after` in milliseconds: delay-seconds or an HTTP date, from raw header pairs (Buffers, as
 * undici gives them); undefined when absent or unreadable. `retry-after-ms` wins when present.
 */
export function retryAfterMs (raw: readonly Buffer[], now: number): number | undefined {
  let out: number | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] as Buffer).toString('latin1').toLowerCase()
    if (k !== 'retry-after' && k !== 'retry-after-ms') continue
    const v = (raw[i + 1] as Buffer).toString('latin1').trim()
    if (k === 'retry-after-ms') {
      if (/^\d{1,9}(?:\.\d+)?$/.test(v)) return Number(v)
      continue
    }
    if (/^\d{1,9}$/.test(v)) out = Number(v) * 1000
    else {
      const at = Date.parse(v)
      if (!Number.isNaN(at)) out = Math.max(0, at - now)
    }
  }
  return out
}

export interface HealthOptions {
  /** First cooldown without `retry-after`, ms. */
  readonly cooldownMs: number
  /** Longest cooldown, ms. */
  readonly maxCooldownMs: number
  /** A probe that has not answered after this long no longer blocks another, ms. */
  readonly probeTimeoutMs: number
}

export class Health {
  /** Failures in a row (0 = healthy). */
  private failures = 0
  /** Cooling until this time (ms); 0 when not cooling. */
  private until = 0
  /** A probe was handed out at this time (ms); 0 when none is out. */
  private probeAt = 0
  constructor (private readonly opts: HealthOptions) {}

  state (now: number): HealthState {
    if (this.until === 0) return 'healthy'
    return now < this.until ? 'cooling' : 'half-open'
  }

  /** May a request be sent here first? Healthy, or half-open with no probe out. */
  available (now: number): boolean {
    if (this.until === 0) return true
    return now >= this.until && (this.probeAt === 0 || now - this.probeAt >= this.opts.probeTimeoutMs)
  }

  /** True when the member is half-open and this call took its probe (the caller must `answered`, `failed` or `releaseProbe`). */
  takeProbe (now: number): boolean {
    if (this.until === 0 || !this.available(now)) return false
    this.probeAt = now
    return true
  }

  releaseProbe (): void { this.probeAt = 0 }

  /** An answer with this status; `retryAfter` in ms when the answer said. `probe`: this request held the probe. */
  answered (status: number, now: number, retryAfter: number | undefined, probe: boolean): void {
    if (isHealthFailure(status)) { this.fail(now, retryAfter, probe); return }
    if (this.until === 0) { this.failures = 0; return }
    // Cooling or half-open: only the probe's answer counts (older requests say nothing about now).
    if (probe) { this.failures = 0; this.until = 0; this.probeAt = 0 }
  }

  /** No answer: a connection error or a header timeout. */
  failed (now: number, probe: boolean): void { this.fail(now, undefined, probe) }

  private fail (now: number, retryAfter: number | undefined, probe: boolean): void {
    const cooling = this.until !== 0 && now < this.until
    if (!cooling || probe) this.failures++
    if (probe) this.probeAt = 0
    const o = this.opts
    const backoff = o.cooldownMs * 2 ** Math.min(this.failures - 1, 20)
    const d = Math.min(o.maxCooldownMs, Math.max(1000, retryAfter ?? backoff))
    this.until = Math.max(cooling ? this.until : 0, now + d)
  }

  /** Ms left of the cooldown (0 when not cooling). */
  remaining (now: number): number { return this.until === 0 ? 0 : Math.max(0, this.until - now) }
}
