/**
 * The compact form in which HTTP workers hand usage to the primary.
 *
 * A batch is a string table plus one Float64Array of fixed-width rows (one row per metered
 * request), so posting it to the primary moves one ArrayBuffer instead of cloning an object per
 * request. Strings (principal, upstream, models, pooled group) are stored once per batch and
 * referenced by index. Token counts are integers well below 2⁵³, so a double holds them exactly.
 *
 * A batch also carries the lease charges of the requests in it (lib/spend/budget.ts): the cost
 * each settled request drew from a budget lease, summed per budget and epoch. The primary writes
 * them in the same transaction as the batch's spend, which is what keeps leases and spend
 * consistent.
 */

import type { Outcome } from '../proxy/accounting.js'
import type { Counts } from './pricing.js'

/** Column offsets of one record. */
export const C = Object.freeze({
  at: 0, sub: 1, upstream: 2, upstreamModel: 3, clientModel: 4,
  input: 5, output: 6, cacheRead: 7, cacheWrite: 8, cacheWrite1h: 9, webSearch: 10, fast: 11, pool: 12,
})
/** Doubles per record. */
export const WIDTH = 13
/** String index meaning "none". */
export const NONE = -1

/** Cost drawn from one lease epoch: kind, subject, bucket, epoch, micro-cents. */
export type LeaseCharge = [kind: 'u' | 'g', subject: string, bucket: string, epoch: string, micro: number]

export interface UsageBatch {
  /** The lease holder (one HTTP worker thread) that produced the batch. */
  readonly holder: string
  readonly strings: string[]
  /** Records in `rows`. */
  readonly n: number
  /** n × WIDTH doubles. */
  readonly rows: Float64Array
  readonly charges: LeaseCharge[]
}

/** Accumulates records; `take()` hands over a finished batch and starts a new one. */
export class BatchBuilder {
  private strings: string[] = []
  private index = new Map<string, number>()
  private rows = new Float64Array(64 * WIDTH)
  private n = 0
  private charges = new Map<string, LeaseCharge>()
  private byOwner = new Map<object, LeaseCharge>()

  constructor (readonly holder: string) {}

  get size (): number { return this.n }
  get empty (): boolean { return this.n === 0 && this.charges.size === 0 }

  /** Index of `s` in the string table (NONE for null). */
  str (s: string | null | undefined): number {
    if (s === null || s === undefined) return NONE
    let i = this.index.get(s)
    if (i === undefined) { i = this.strings.length; this.strings.push(s); this.index.set(s, i) }
    return i
  }

  /** Append one record; `fill` writes its columns at `off`. */
  add (fill: (rows: Float64Array, off: number) => void): void {
    if ((this.n + 1) * WIDTH > this.rows.length) {
      const bigger = new Float64Array(this.rows.length * 2)
      bigger.set(this.rows)
      this.rows = bigger
    }
    fill(this.rows, this.n * WIDTH)
    this.n++
  }

  /**
   * Add a lease charge. `owner` (the worker's budget object) lets repeated charges to one budget
   * and epoch be summed without building a string key.
   */
  charge (kind: 'u' | 'g', subject: string, bucket: string, epoch: string, micro: number, owner?: object): void {
    if (!(micro > 0)) return
    if (owner !== undefined) {
      const c = this.byOwner.get(owner)
      if (c !== undefined && c[3] === epoch) { c[4] += micro; return }
      if (c === undefined) {
        const fresh: LeaseCharge = [kind, subject, bucket, epoch, micro]
        this.byOwner.set(owner, fresh)
        this.charges.set(`${kind}\u0000${subject}\u0000${bucket}\u0000${epoch}`, fresh)
        return
      }
    }
    const k = `${kind}\u0000${subject}\u0000${bucket}\u0000${epoch}`
    const c = this.charges.get(k)
    if (c === undefined) this.charges.set(k, [kind, subject, bucket, epoch, micro])
    else c[4] += micro
  }

  take (): UsageBatch {
    const b: UsageBatch = { holder: this.holder, strings: this.strings, n: this.n, rows: this.rows.slice(0, this.n * WIDTH), charges: [...this.charges.values()] }
    this.strings = []
    this.index = new Map()
    this.n = 0
    this.charges = new Map()
    this.byOwner = new Map()
    return b
  }
}

/** What to bill for an outcome: the reported usage, or the output estimate of a cut-short stream. */
export function countsOf (o: Outcome): Counts | null {
  const u = o.usage
  if (u !== null) {
    const output = o.aborted ? Math.max(u.output_tokens, o.estimatedOutputTokens) : u.output_tokens
    return { input: u.input_tokens, output, cacheRead: u.cache_read_input_tokens, cacheWrite: u.cache_creation_input_tokens, cacheWrite1h: u.cache_creation_1h, webSearch: u.web_search_requests, fast: u.speed === 'fast' }
  }
  if (o.estimatedOutputTokens > 0) return { input: 0, output: o.estimatedOutputTokens, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, webSearch: 0, fast: false }
  return null
}

/** Append the usage record of one request (nothing when it used nothing). */
export function addUsageRecord (b: BatchBuilder, at: number, sub: string, o: Outcome, c: Counts, pool: string | null): void {
  if (c.input + c.output + c.cacheRead + c.cacheWrite + c.webSearch <= 0) return
  b.add((rows, off) => {
    rows[off + C.at] = at
    rows[off + C.sub] = b.str(sub)
    rows[off + C.upstream] = b.str(o.upstream)
    rows[off + C.upstreamModel] = b.str(o.upstreamModel)
    rows[off + C.clientModel] = b.str(o.clientModel)
    rows[off + C.input] = c.input
    rows[off + C.output] = c.output
    rows[off + C.cacheRead] = c.cacheRead
    rows[off + C.cacheWrite] = c.cacheWrite
    rows[off + C.cacheWrite1h] = c.cacheWrite1h
    rows[off + C.webSearch] = c.webSearch
    rows[off + C.fast] = c.fast ? 1 : 0
    rows[off + C.pool] = pool !== null ? b.str(pool) : NONE
  })
}
