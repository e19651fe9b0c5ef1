/**
 * The slow half of admission: getting a reservation on one budget when the local lease cannot
 * cover the request at once (see budget.ts for the algorithm and its invariants).
 *
 * `acquire` loops until one of:
 *   - a full worst-case reservation fits in the (possibly topped-up) lease → a Hold;
 *   - the bucket's spend has reached the cap → 'exceeded';
 *   - the request may take the budget's last, smaller remainder (nothing else in flight
 *     anywhere on it) → a partial Hold;
 *   - the bounded wait for other requests to settle ran out → 'contended'.
 * While it waits with nothing of its own in flight, it returns its too-small lease: otherwise two
 * holders could each keep a remainder neither can use, and both wait out the deadline.
 * Lease calls for one budget are coalesced: concurrent requests wait for the call in flight and
 * look again. Database failures propagate (the caller applies fail-open or fail-closed).
 */
import type { Budget, LeaseReply } from './budget.js'

/** A reservation held by an admitted request on one budget. */
export interface Hold {
  readonly b: Budget
  readonly epoch: string
  readonly amount: number
}

export type Acquired = Hold | 'exceeded' | 'contended'

/** The lease statement said the cap the worker resolved is out of date. */
export class StaleCaps extends Error {
  constructor () { super('spend caps changed; reloading'); this.name = 'StaleCaps' }
}

export interface Lessor {
  clock (): number
  /** Ask for `need` more on `b` (coalesced by the caller's budget), fold the reply into `b`. */
  call (b: Budget, need: number, partialOk: boolean): Promise<LeaseReply>
  /** True while the store is known to be failing (fail fast instead of waiting). */
  storeDown (now: number): boolean
  /** Return `b`'s unused lease to the database. */
  giveBack (b: Budget, now: number): void
}

/** Thrown while the store is known to be down, without trying it again. */
export class StoreDown extends Error {
  readonly code = 'STORE_DOWN'
  constructor () { super('spend store is unavailable (recent failure)'); this.name = 'StoreDown' }
}

const hold = (b: Budget, amount: number, now: number): Hold => {
  b.reserve(amount, now)
  return { b, epoch: b.epoch, amount }
}

/** Reserve `worst` (or the last remainder) on `b`; see the file comment. */
export async function acquire (l: Lessor, b: Budget, worst: number, deadline: number): Promise<Acquired> {
  let backoff = 5
  for (;;) {
    let now = l.clock()
    if (b.available(now) >= worst) return hold(b, worst, now)
    if (b.valid(now) && b.exceeded()) return 'exceeded'
    if (b.pending !== null) {
      await b.pending.catch(() => undefined)
      continue
    }
    if (l.storeDown(now)) throw new StoreDown()
    b.prepare(now)
    const partialOk = b.reserved === 0
    const reply = await l.call(b, worst - Math.max(0, b.available(now)), partialOk)
    if (!reply.fresh) throw new StaleCaps()
    now = l.clock()
    const free = b.available(now)
    if (free >= worst) return hold(b, worst, now)
    if (b.exceeded()) return 'exceeded'
    if (free > 0 && b.reserved === 0 && reply.others === 0) return hold(b, free, now)
    if (now >= deadline) return 'contended'
    // Nothing of ours is in flight on this budget, yet our lease is too small: hand it back, so
    // that scattered remainders held by several holders can come together for one request.
    if (b.reserved === 0) l.giveBack(b, now)
    await b.waitForChange(Math.min(backoff, deadline - now))
    backoff = Math.min(backoff * 2, 100)
  }
}

/**
 * Grow a reservation already in flight on `b` (a stream running past its worst case) by `want`,
 * or by `need` at least: from the free lease, else after one lease call (never a partial
 * remainder, never a wait for other requests). Answers the amount added, 0 when even `need` does
 * not fit: the budget's cap is reached (or all of it is held by requests in flight).
 */
export async function topUp (l: Lessor, b: Budget, want: number, need: number): Promise<number> {
  const take = (): number => {
    const now = l.clock()
    const free = b.available(now)
    const n = free >= want ? want : free >= need ? need : 0
    if (n > 0) b.reserve(n, now)
    return n
  }
  let got = take()
  if (got > 0) return got
  if (b.pending !== null) {
    await b.pending.catch(() => undefined)
    got = take()
    if (got > 0) return got
  }
  const now = l.clock()
  if (b.valid(now) && b.exceeded()) return 0
  if (l.storeDown(now)) throw new StoreDown()
  const reply = await l.call(b, need - Math.max(0, b.available(now)), false)
  return reply.fresh ? take() : 0
}

/** Undo the reservations of a request that is refused after all. */
export function releaseHolds (holds: readonly Hold[]): void {
  for (const h of holds) h.b.unreserve(h.epoch, h.amount)
}
