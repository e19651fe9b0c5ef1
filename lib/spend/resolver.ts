/**
 * Which caps bind a principal, on the hot path of one HTTP worker: the cap table the primary
 * pushes (CapBook) resolved for the principal's subject and groups, memoized per Principal object
 * (sessions hand out one per token, so a request costs one WeakMap lookup) and per distinct
 * subject + groups (a bounded cache, emptied when a new table arrives); and the principal's
 * budgets for today on this thread's leases (LeaseKeeper), kept on the same entry for the day.
 */
import { BoundedCache } from '../cache.js'
import type { Principal } from '../session/token.js'
import type { Budget } from './budget.js'
import { CapBook, type PoolRules, type Resolution } from './caps.js'
import type { LeaseKeeper } from './keeper.js'
import type { CapsMessage } from './link.js'
import { bucketsAt } from '../metering/periods.js'

export class CapResolver {
  private book: CapBook | null = null
  private readonly resolved = new BoundedCache<string, Resolution | null>(10_000)
  private readonly byPrincipal = new WeakMap<Principal, { version: number, res: Resolution | null, day?: number, users?: Budget[], pools?: Budget[] }>()

  constructor (private readonly rules: PoolRules, private readonly keeper: LeaseKeeper) {}

  /** Whether a cap table has arrived. */
  get ready (): boolean { return this.book !== null }

  /** Take a pushed cap table, unless it is older than the one held. */
  setCaps (m: CapsMessage): void {
    if (this.book !== null && m.version < this.book.version) return
    this.book = new CapBook(m.rows, m.version)
    this.resolved.clear()
  }

  /** The caps and pools that bind `p`, or null when none do. Only once `ready`. */
  resolve (p: Principal): Resolution | null {
    const book = this.book as CapBook
    if (book.empty) return null
    // Sessions hand out one Principal object per token, so this is one WeakMap lookup per request.
    const mine = this.byPrincipal.get(p)
    if (mine !== undefined && mine.version === book.version) return mine.res
    const key = p.groups.length === 0 ? p.sub : `${p.sub}\u0000${p.groups.join('\u0000')}`
    let res = this.resolved.get(key)
    if (res === undefined) {
      const full = book.resolve(p.sub, p.groups, this.rules)
      res = full.caps.length === 0 && full.pools.length === 0 ? null : full
      this.resolved.set(key, res)
    }
    this.byPrincipal.set(p, { version: book.version, res })
    return res
  }

  /** The budgets of a principal today (cached on its Principal object for the day). */
  budgetsOf (p: Principal, res: Resolution, now: number): { users: Budget[], pools: Budget[] } {
    const e = this.byPrincipal.get(p)
    const day = bucketsAt(now).from
    if (e !== undefined && e.res === res && e.day === day && e.users !== undefined && e.pools !== undefined &&
      e.users.every((b) => !b.dead) && e.pools.every((b) => !b.dead)) {
      for (const b of e.users) if (b.lastUse < now) b.lastUse = now
      for (const b of e.pools) if (b.lastUse < now) b.lastUse = now
      return { users: e.users, pools: e.pools }
    }
    const users = res.caps.map((c) => this.keeper.budget('u', p.sub, c.period, c, now))
    const pools = res.pools.map((c) => this.keeper.budget('g', c.group, 'monthly', c, now))
    if (e !== undefined && e.res === res) { e.day = day; e.users = users; e.pools = pools }
    return { users, pools }
  }
}
