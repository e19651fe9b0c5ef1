/**
 * The signing keys of the customer-routed-inference issuer: `<issuer>/jwks.json` (or the loopback
 * `cri.jwks_url` override), kept in memory by each HTTP worker.
 *
 * Invariants:
 *   - every fetch goes through the outbound SSRF guard (lib/net/ssrf.ts), never follows a
 *     redirect, and is bounded in time and size;
 *   - a key set is fresh for the response's `Cache-Control: max-age`, capped at 3 hours, or 10
 *     minutes when the response names none; after that the next lookup fetches again;
 *   - a token naming a `kid` the set lacks triggers one refetch, at most once a minute (the
 *     cooldown), so forged kids cannot make the gateway hammer the issuer;
 *   - when a refetch fails, the last good set keeps serving until it is 6 hours old (the
 *     staleness ceiling); past that, or before any set was ever fetched, lookups fail with
 *     `JwksUnavailable`, which the caller answers with 503 and `retry-after: 30`;
 *   - a failed fetch is not retried for `FAILURE_BACKOFF_MS`, so an outage costs one outbound
 *     request per worker per backoff, not one per client request;
 *   - concurrent lookups share one fetch in flight.
 * Only EC P-256 keys are kept (ES256 is the only algorithm accepted).
 */
import { createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose'
import type { Dispatcher } from 'undici'
import { boundedText, guardedFetch } from '../net/ssrf.js'

export const DEFAULT_FRESH_MS = 10 * 60_000
export const MAX_FRESH_MS = 3 * 3600_000
export const STALE_CEILING_MS = 6 * 3600_000
export const UNKNOWN_KID_COOLDOWN_MS = 60_000
export const FAILURE_BACKOFF_MS = 5_000
const FETCH_TIMEOUT_MS = 5_000
const MAX_JWKS_BYTES = 256 * 1024

/** The issuer's keys cannot be had (never fetched, or too stale to trust). */
export class JwksUnavailable extends Error {
  constructor (message: string) { super(message); this.name = 'JwksUnavailable' }
}

/** What a lookup found: a key resolver for jose, or null when the kid is unknown even after a refetch. */
interface KeySet { readonly resolve: JWTVerifyGetKey, readonly kids: ReadonlySet<string> }

export interface JwksOptions {
  readonly url: string
  readonly dispatcher: Dispatcher
  /** Milliseconds clock; replaceable in tests. */
  readonly now?: () => number
}

/** `max-age` from a Cache-Control value, in ms, capped; the default when absent or unreadable. */
export function freshnessOf (cacheControl: string | null): number {
  const m = cacheControl === null ? null : /(?:^|[,\s])max-age\s*=\s*"?(\d{1,10})"?/i.exec(cacheControl)
  if (m === null) return DEFAULT_FRESH_MS
  return Math.min(Number(m[1]) * 1000, MAX_FRESH_MS)
}

export class JwksCache {
  private set: KeySet | null = null
  private fetchedAt = 0
  private freshUntil = 0
  private failedAt = -Infinity
  private lastError = ''
  private kidRefetchAt = -Infinity
  private inflight: Promise<void> | null = null
  /** Fetches made (for tests and the operator log). */
  fetches = 0
  private readonly now: () => number

  constructor (private readonly opts: JwksOptions) {
    this.now = opts.now ?? Date.now
  }

  /**
   * A key resolver that knows `kid`, fetching when the set is missing, expired, or lacks the kid
   * (subject to the cooldown). Null when the kid stays unknown.
   */
  async forKid (kid: string): Promise<JWTVerifyGetKey | null> {
    const now = this.now()
    if (this.set === null || now >= this.freshUntil) await this.refresh(false)
    let set = this.usable()
    if (!set.kids.has(kid) && this.now() - this.kidRefetchAt >= UNKNOWN_KID_COOLDOWN_MS) {
      this.kidRefetchAt = this.now()
      await this.refresh(true)
      set = this.usable()
    }
    return set.kids.has(kid) ? set.resolve : null
  }

  /** The current set if it may still be used, else JwksUnavailable. */
  private usable (): KeySet {
    if (this.set !== null && this.now() - this.fetchedAt < STALE_CEILING_MS) return this.set
    throw new JwksUnavailable(this.set === null
      ? `the issuer's signing keys could not be fetched (${this.lastError})`
      : `the issuer's signing keys are more than 6 hours old and could not be refreshed (${this.lastError})`)
  }

  private async refresh (force: boolean): Promise<void> {
    if (this.inflight !== null) { await this.inflight; return }
    if (!force && this.now() - this.failedAt < FAILURE_BACKOFF_MS) return
    this.inflight = this.fetch().finally(() => { this.inflight = null })
    await this.inflight
  }

  private async fetch (): Promise<void> {
    this.fetches++
    try {
      const res = await guardedFetch(this.opts.url, { headers: { accept: 'application/json' }, dispatcher: this.opts.dispatcher, timeoutMs: FETCH_TIMEOUT_MS })
      if (res.status !== 200) { await res.body?.cancel(); throw new Error(`status ${res.status}`) }
      const text = await boundedText(res, MAX_JWKS_BYTES, 'key set')
      const doc = JSON.parse(text) as { keys?: unknown }
      if (!Array.isArray(doc.keys)) throw new Error('no keys array')
      const keys = (doc.keys as JWK[]).filter((k) => typeof k === 'object' && k !== null && k.kty === 'EC' && k.crv === 'P-256' && typeof k.kid === 'string' && (k.alg === undefined || k.alg === 'ES256') && (k.use === undefined || k.use === 'sig'))
      const now = this.now()
      this.set = { resolve: createLocalJWKSet({ keys }), kids: new Set(keys.map((k) => k.kid as string)) }
      this.fetchedAt = now
      this.freshUntil = now + freshnessOf(res.headers.get('cache-control'))
      this.failedAt = -Infinity
    } catch (err) {
      this.failedAt = this.now()
      this.lastError = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err)
      // Keep serving the last set (within the ceiling); retry once the backoff has passed.
      if (this.set !== null) this.freshUntil = this.now() + FAILURE_BACKOFF_MS
    }
  }
}
