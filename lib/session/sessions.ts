/**
 * Bearer authentication for every bearer endpoint, per worker thread.
 *
 * `authenticate(rq)` is the one function every bearer route calls. A verified token is cached
 * (token string → principal and token id) so repeat requests on the hot path cost a Map lookup and
 * an expiry comparison instead of an HMAC. Only a token's one canonical spelling verifies
 * (lib/session/token.ts), so the text is a faithful key: no second spelling of a token can be
 * cached, and the revocation check below uses the id derived from the verified bytes. Revocations arrive from the primary (which reads them from
 * Postgres and listens for changes) through `applyRevocations`, so a revoked token is refused on
 * every worker without a database query per request:
 *   - by token id (`tokenId(token)`), kept until the token would have expired anyway;
 *   - by subject: every token for `sub` issued before a cut-off (sign a person out everywhere).
 * Refusals are audited as `auth.denied` (reason, path, client IP; never token material).
 */
import { GatewayError } from '../errors.js'
import type { Req } from '../http/request.js'
import { clientIp } from '../http/router.js'
import { audit } from '../log.js'
import type { CidrList } from '../net/cidr.js'
import { type KeyRing, type Principal, TokenRefused, verifySession } from './token.js'
import { BoundedCache } from '../cache.js'

/** One revocation, as stored and broadcast. */
export interface Revocation {
  /** Token id (see `tokenId`), for a single token (and, on the primary, its sign-in's refresh tokens). */
  readonly id?: string
  /** Subject whose tokens issued before `before` are revoked. */
  readonly sub?: string
  /** Unix seconds: with `sub`, tokens with `iat` < this are refused. */
  readonly before?: number
  /** Unix seconds after which the entry no longer matters. */
  readonly exp: number
}

const MAX_CACHE = 10_000

export class Sessions {
  private readonly cache = new BoundedCache<string, { p: Principal, id: string }>(MAX_CACHE)
  private readonly revokedIds = new Map<string, number>()
  private readonly revokedBefore = new Map<string, { before: number, exp: number }>()

  constructor (
    private readonly ring: KeyRing,
    private readonly opts: { issuer?: string | undefined, trusted: CidrList, clockSkewSeconds?: number },
  ) {}

  /** Verify a token (cached). Throws `TokenRefused`. */
  verify (token: string): Principal {
    const now = Date.now() / 1000
    let hit = this.cache.get(token)
    if (hit === undefined) {
      const v = verifySession(this.ring, token, { issuer: this.opts.issuer, ...(this.opts.clockSkewSeconds !== undefined ? { clockSkewSeconds: this.opts.clockSkewSeconds } : {}) })
      hit = { p: v.principal, id: v.id }
      if (this.cache.size >= MAX_CACHE) this.evict(now)
      this.cache.set(token, hit)
    } else if (now >= hit.p.exp) {
      this.cache.delete(token)
      throw new TokenRefused('expired_token', 'expired')
    }
    if (this.revokedIds.size > 0 && this.revokedIds.has(hit.id)) throw new TokenRefused('revoked_token', 'revoked')
    if (this.revokedBefore.size > 0) {
      const cut = this.revokedBefore.get(hit.p.sub)
      if (cut !== undefined && hit.p.iat < cut.before) throw new TokenRefused('revoked_token', 'subject signed out')
    }
    return hit.p
  }

  /**
   * Authenticate a request from its `Authorization: Bearer` header. Throws the 401 error (with
   * `x-should-retry: false`) after auditing why.
   */
  authenticate (rq: Req): Principal {
    const h = rq.headers.authorization
    if (h === undefined || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') {
      audit('auth.denied', { request_id: rq.id, reason: 'missing_token', path: rq.path, client_ip: clientIp(rq, this.opts.trusted) })
      throw new GatewayError('GW_AUTH_MISSING')
    }
    try {
      return this.verify(h.slice(7).trim())
    } catch (err) {
      if (err instanceof TokenRefused) {
        audit('auth.denied', { request_id: rq.id, reason: err.reason, path: rq.path, client_ip: clientIp(rq, this.opts.trusted) })
      }
      throw err
    }
  }

  /** Take over `other`'s revocations (a verifier rebuilt by a config reload must refuse what the old one refused). */
  inheritRevocations (other: Sessions): void {
    for (const [id, exp] of other.revokedIds) this.revokedIds.set(id, exp)
    for (const [sub, r] of other.revokedBefore) {
      const mine = this.revokedBefore.get(sub)
      if (mine === undefined || r.before > mine.before) this.revokedBefore.set(sub, r)
    }
  }

  /** Apply revocations broadcast by the primary (idempotent). */
  applyRevocations (list: readonly Revocation[]): void {
    const now = Date.now() / 1000
    for (const r of list) {
      if (r.exp <= now) continue
      if (r.id !== undefined) this.revokedIds.set(r.id, r.exp)
      if (r.sub !== undefined && r.before !== undefined) {
        const prev = this.revokedBefore.get(r.sub)
        if (prev === undefined || r.before > prev.before) this.revokedBefore.set(r.sub, { before: r.before, exp: Math.max(r.exp, prev?.exp ?? 0) })
      }
    }
    this.prune(now)
  }

  /** Forget expired revocations (their tokens have expired too). */
  private prune (now: number): void {
    for (const [id, exp] of this.revokedIds) if (exp <= now) this.revokedIds.delete(id)
    for (const [sub, r] of this.revokedBefore) if (r.exp <= now) this.revokedBefore.delete(sub)
  }

  /** Called when the cache is full: drop expired tokens first (the cache then evicts its oldest entry if none were). */
  private evict (now: number): void {
    for (const [k, v] of this.cache.entries()) if (v.p.exp <= now) this.cache.delete(k)
  }
}
