/**
 * One lease holder's budgets (one per HTTP worker thread): finding a budget for a bucket, running
 * the lease statement through the primary, returning unused leases, and the upkeep timer that
 * keeps leases in use alive and forgets idle budgets. The algorithm itself is described in
 * budget.ts; acquire.ts drives it for one admission.
 */
import { randomUUID } from 'node:crypto'
import { threadId } from 'node:worker_threads'
import { describeError, ops } from '../log.js'
import type { Lessor } from './acquire.js'
import { Budget, KEEPALIVE_MS, TTL_MS, type BudgetCap, type LeaseReply } from './budget.js'
import type { SpendLink } from './link.js'
import { bucketsAt, periodIndex, type Period } from '../metering/periods.js'
import type { LeaseDelta } from '../metering/charges.js'

/** After a store failure, admissions skip the database for this long. */
const STORE_DOWN_MS = 1000

export class LeaseKeeper implements Lessor {
  readonly holder: string
  private readonly budgets = new Map<string, Budget>()
  private downUntil = 0
  private lastWarn = 0
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly link: SpendLink, readonly clock: () => number, holder?: string) {
    this.holder = holder ?? `${process.pid}.${threadId}.${randomUUID().slice(0, 8)}`
  }

  /** The budget of `kind:subject` for `period`'s current bucket, created on first use. */
  budget (kind: 'u' | 'g', subject: string, period: Period, cap: BudgetCap, now: number): Budget {
    const bk = bucketsAt(now)
    const i = periodIndex(period)
    const key = `${kind}\u0000${subject}\u0000${bk.keys[i]}`
    let b = this.budgets.get(key)
    if (b === undefined) {
      b = new Budget(kind, subject, period, bk.keys[i], bk.resets[i], cap)
      this.budgets.set(key, b)
      this.startTimer()
    } else if (b.cap.limitId !== cap.limitId || b.cap.amount !== cap.amount) {
      // The cap changed: give back what is unused and lease under the new cap from now on. The
      // epoch stays, so the lease row keeps backing requests in flight and unwritten charges.
      this.giveBack(b, now)
      b.cap = cap
    }
    // Touched on every lookup, so upkeep never forgets a budget an admission is working on (a
    // forgotten one would come back as a new epoch and orphan the old lease's charges).
    if (b.lastUse < now) b.lastUse = now
    return b
  }

  storeDown (now: number): boolean { return now < this.downUntil }

  /** Note a store failure; true when it should be logged (at most every 10 s). */
  markDown (now: number): boolean {
    this.downUntil = now + STORE_DOWN_MS
    if (now - this.lastWarn < 10_000) return false
    this.lastWarn = now
    return true
  }

  /** Run (or join) the lease call of `b` and fold the answer in. */
  async call (b: Budget, need: number, partialOk: boolean): Promise<LeaseReply> {
    if (b.pending !== null) return await b.pending
    const sentAt = this.clock()
    const p = this.link.lease({
      kind: b.kind, subject: b.subject, bucket: b.bucket, holder: this.holder, epoch: b.epoch, limitId: b.cap.limitId, amount: b.cap.amount,
      want: need > 0 ? b.want(need) : 0, need, partialOk, ttlMs: TTL_MS,
    })
    b.pending = p
    try {
      const reply = await p
      b.apply(reply, sentAt)
      return reply
    } finally {
      b.pending = null
    }
  }

  /** Return `b`'s unused lease to the database (fire and forget). */
  giveBack (b: Budget, now: number): void {
    const free = b.takeUnused(now)
    if (free > 0) this.link.release([[b.kind, b.subject, b.bucket, this.holder, b.epoch, free]])
  }

  /** Return every unused lease; at thread exit the message is posted synchronously. */
  returnAll (exiting = false): void {
    const now = this.clock()
    const list: LeaseDelta[] = []
    for (const b of this.budgets.values()) {
      const free = b.takeUnused(now)
      if (free > 0) list.push([b.kind, b.subject, b.bucket, this.holder, b.epoch, free])
    }
    if (exiting) this.link.exit(list)
    else this.link.release(list)
  }

  private startTimer (): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => { this.upkeep() }, Math.floor(TTL_MS / 4))
    this.timer.unref()
  }

  /** Heartbeat leases in use, return idle tight ones, forget budgets idle for two lease lives. */
  upkeep (): void {
    const now = this.clock()
    for (const [k, b] of this.budgets) {
      if (b.pending !== null) continue
      const active = b.reserved > 0 || now - b.lastUse < KEEPALIVE_MS
      if (b.valid(now)) {
        if (active && b.expires - now < TTL_MS / 2 && !this.storeDown(now)) {
          this.call(b, 0, false).catch((err: unknown) => { ops.debug(`spend lease heartbeat failed: ${describeError(err)}`) })
        } else if (!active && b.tight) this.giveBack(b, now)
      } else if (b.reserved === 0 && now - b.lastUse > 2 * TTL_MS) {
        b.dead = true
        this.budgets.delete(k)
      }
    }
  }

  close (): void {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null }
    this.returnAll()
  }
}
