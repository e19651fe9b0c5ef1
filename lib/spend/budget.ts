/**
 * Budget leases, worker side: how a capped request is admitted without a database round trip,
 * and without the cap being overshot by concurrent requests on other threads or replicas.
 *
 * A budget is one bucket with a cap: a principal's day, week or month (kind 'u') or a group's
 * pooled month (kind 'g'). Each HTTP worker thread is a lease holder. For a budget it holds:
 *   granted   micro-cents the database has leased to this holder in the current epoch;
 *   used      the actual cost of this holder's requests settled against the lease;
 *   reserved  the worst-case cost of its requests still in flight.
 * Its free lease is granted − used − reserved.
 *
 * The algorithm:
 *   1. admit: a request's worst case w (prompt bytes + max_tokens at the model's dearest rates)
 *      is reserved from the local lease when it has room — no I/O;
 *   2. otherwise the holder asks Postgres for more in one atomic statement (weir_spend_lease,
 *      migration 0012): under a per-budget advisory lock it reads spent and every other holder's
 *      unexpired lease in one snapshot and grants at most the free room cap − spent − leases,
 *      and no more than a quarter of it unless one request needs more — so leases shrink as the
 *      cap nears and the last requests go one at a time;
 *   3. when even the whole free room is smaller than w, the request may reserve that remainder
 *      (min(w, what remains)) only if no other holder holds any lease on the budget and this
 *      holder has nothing in flight on it; else it waits for in-flight requests to settle and
 *      retries, and is refused once spent ≥ cap (or after a bounded wait);
 *   4. settle: the reservation is replaced by the actual cost (`used`), and a charge of that cost
 *      tagged with the lease's epoch goes to the primary with the usage record; metering moves it
 *      from the lease row to `spent` in one transaction, so spent + leases stays constant;
 *   5. a lease lives TTL_MS (seconds). While requests are in flight or charges may be unflushed,
 *      the holder extends it (a heartbeat: the same statement granting nothing). An idle lease is
 *      left to expire, or returned at once when the budget is tight or the thread exits.
 *
 * Invariants: each grant keeps spent + Σ unexpired leases ≤ cap; a full reservation never
 * exceeds the holder's free lease; so the total can pass the cap only through a request whose
 * actual cost exceeds its reservation. Every request with a full worst-case reservation costs
 * at most that (unless fast mode or server-side tools add cost the body does not show), and a
 * partial reservation is only ever granted to one request at a time per budget (3.), so the cap
 * is passed by at most that one request's settle difference.
 */
import type { Period } from '../metering/periods.js'

/** How long a lease lives in the database without a heartbeat, ms. */
export const TTL_MS = 8000
/** Local safety margin: the holder stops using a lease this long before the database would expire it. */
export const MARGIN_MS = 1500
/** A lease with activity this recent (or requests in flight) is kept alive. */
export const KEEPALIVE_MS = 3000

/** What the lease statement answered (micro-cents). */
export interface LeaseReply {
  readonly granted: number
  readonly spent: number
  readonly others: number
  readonly held: number
  readonly freeAfter: number
  /** False when the cap the caller named changed or was deleted: reload caps, nothing granted. */
  readonly fresh: boolean
}

/** The cap a budget was leased under. Cents as a number, and exactly as stored. */
export interface BudgetCap {
  readonly cents: number
  readonly amount: string
  readonly limitId: string
}

let epochSeq = 0
const newEpoch = (): string => `${Date.now().toString(36)}.${(epochSeq++).toString(36)}`

export class Budget {
  epoch = ''
  granted = 0
  used = 0
  reserved = 0
  /** Local expiry of the lease (ms); 0 = none. */
  expires = 0
  /** Figures of the last reply. */
  spentDb = 0
  othersDb = 0
  heldDb = 0
  grantedAtRead = 0
  /** The last grant left less free room than we wanted: return unused leases promptly. */
  tight = false
  lastUse = 0
  /** Forgotten by its holder (idle); never reused once set. */
  dead = false
  /** A lease call in flight for this budget (calls are coalesced). */
  pending: Promise<LeaseReply> | null = null
  private waiters: Array<() => void> = []

  constructor (
    readonly kind: 'u' | 'g',
    readonly subject: string,
    readonly period: Period,
    readonly bucket: string,
    readonly resetsAt: number,
    public cap: BudgetCap,
  ) {}

  get key (): string { return `${this.kind}\u0000${this.subject}\u0000${this.bucket}` }
  get capMicro (): number { return this.cap.cents * 1e6 }

  valid (now: number): boolean { return this.epoch !== '' && now < this.expires }

  /** Free lease right now (0 when the lease lapsed). Negative when settles ran over. */
  available (now: number): number { return this.valid(now) ? this.granted - this.used - this.reserved : 0 }

  /** Spend of this bucket as best known here: the database's figure plus our settles it has not seen yet. */
  spentEstimate (): number {
    const flushed = this.grantedAtRead - this.heldDb
    return this.spentDb + Math.max(0, this.used - flushed)
  }

  /**
   * The bucket is used up: the database's committed spend reached the cap. (Our own settles not
   * yet written only delay this verdict by a flush; meanwhile the lease statement grants nothing,
   * so requests wait instead of running past the cap.)
   */
  exceeded (): boolean { return this.spentDb >= this.capMicro }

  /** Start a new epoch if the lease lapsed and nothing is in flight on it. */
  prepare (now: number): void {
    if (!this.valid(now) && this.reserved === 0) {
      this.epoch = newEpoch()
      this.granted = 0
      this.used = 0
      this.grantedAtRead = 0
      this.heldDb = 0
    }
  }

  /** Fold a lease reply in. `sentAt` is when the call left (the lease is counted from then). */
  apply (r: LeaseReply, sentAt: number): void {
    if (!r.fresh) return
    this.granted += r.granted
    // The database never holds less for us than our unsettled lease; if it does (our row lapsed
    // there), shrink our view so we never spend budget the database no longer counts as ours.
    if (this.granted - this.used > r.held) this.granted = this.used + r.held
    this.spentDb = r.spent
    this.othersDb = r.others
    this.heldDb = r.held
    this.grantedAtRead = this.granted
    this.expires = sentAt + TTL_MS - MARGIN_MS
    this.tight = r.freeAfter < this.capMicro / 20
  }

  reserve (amount: number, now: number): void {
    this.reserved += amount
    this.lastUse = now
  }

  /** Replace a reservation of `reserved` (made in `epoch`) by the actual `cost`. */
  settle (epoch: string, reserved: number, cost: number, now: number): void {
    if (epoch === this.epoch) {
      this.reserved = Math.max(0, this.reserved - reserved)
      this.used += cost
    }
    this.lastUse = now
    this.wake()
  }

  /** Give back a reservation that was never used (the request was refused elsewhere). */
  unreserve (epoch: string, reserved: number): void {
    if (epoch === this.epoch) this.reserved = Math.max(0, this.reserved - reserved)
    this.wake()
  }

  /** The unused part of the lease, to return to the pool; the local lease shrinks by it. */
  takeUnused (now: number): number {
    const free = this.available(now)
    if (free <= 0) return 0
    this.granted -= free
    this.grantedAtRead -= free
    this.heldDb -= free
    return free
  }

  /** Wait until a settle here frees something, or `ms` passes. */
  async waitForChange (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      const self = this
      function done (): void { clearTimeout(timer); const i = self.waiters.indexOf(done); if (i >= 0) self.waiters.splice(i, 1); resolve() }
      this.waiters.push(done)
    })
  }

  private wake (): void {
    const w = this.waiters
    if (w.length === 0) return
    this.waiters = []
    for (const f of w) f()
  }

  /** Wants of a lease call for a request needing `need` more: a block of several requests, or a twentieth of the cap. */
  want (need: number): number {
    return Math.ceil(Math.max(need * 8, this.capMicro / 20))
  }
}
