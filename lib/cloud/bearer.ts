/**
 * A bearer token an upstream sends as `Authorization: Bearer …`, whatever issued it.
 * `peek()` answers synchronously while a cached token is fresh, so a request only waits when a
 * token must be fetched first.
 */
import { Cached, type CacheOptions, type Expiring } from './token-cache.js'

export interface BearerSource {
  peek (): string | null
  get (): Promise<string>
  /** Drop the cached token (the upstream answered 401/403). */
  invalidate (): void
}

/** A token from gateway.yaml, used as is. */
export function staticBearer (token: string): BearerSource {
  return { peek: () => token, get: async () => token, invalidate: () => {} }
}

/** A cached token from `fetch`, refreshed before it expires. */
export function cachedBearer (fetch: () => Promise<Expiring<string>>, o: CacheOptions = {}): BearerSource {
  const c = new Cached<string>(fetch, o)
  return { peek: () => c.peek(), get: () => c.get(), invalidate: () => { c.invalidate() } }
}
