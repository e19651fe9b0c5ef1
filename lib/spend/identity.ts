/**
 * The last-seen identity of principals, for the admin API's `/effective` view and the principals
 * list: each worker tells the primary (fire and forget) at most once per principal every
 * IDENTITY_EVERY_MS, per Principal object (a WeakMap lookup per request) and per distinct
 * subject + email + name + groups (a bounded cache, so a token refresh does not resend it).
 */
import { BoundedCache } from '../cache.js'
import type { Principal } from '../session/token.js'
import type { SpendLink } from './link.js'

const IDENTITY_EVERY_MS = 15 * 60_000

export class IdentityNotes {
  private readonly noted = new WeakMap<Principal, number>()
  private readonly seen = new BoundedCache<string, number>(10_000)

  constructor (private readonly link: SpendLink) {}

  /** Send `p`'s identity to the primary unless it was sent lately. */
  note (p: Principal, now: number): void {
    const at = this.noted.get(p)
    if (at !== undefined && now - at < IDENTITY_EVERY_MS) return
    this.noted.set(p, now)
    const key = `${p.sub}\u0000${p.email ?? ''}\u0000${p.name ?? ''}\u0000${p.groups.join(',')}`
    const last = this.seen.get(key)
    if (last !== undefined && now - last < IDENTITY_EVERY_MS) return
    this.seen.set(key, now)
    this.link.identity({ sub: p.sub, email: p.email ?? null, name: p.name ?? null, groups: [...p.groups] })
  }
}
