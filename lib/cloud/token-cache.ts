/**
 * One cached, expiring credential per source, refreshed before it runs out.
 *
 * Every cloud credential Weir holds (AWS keys, Google and Azure access tokens, Anthropic workload
 * identity bearers) has an expiry. `Cached` keeps the current value and hands it out synchronously
 * while it is fresh (`peek`), so the hot path pays nothing per request. Inside the last
 * `refreshBeforeMs` before expiry it starts one background refresh and keeps serving the old value;
 * inside the last `mandatoryMs` (or when there is none) callers wait for the refresh. Concurrent
 * callers share one fetch. A failed background refresh is retried no sooner than `retryMs` later,
 * so a token endpoint outage does not turn into a request storm while the old value still works.
 * With no usable value, a failed fetch is answered again for `failBackoffMs` without asking the
 * source (requests fail over at once instead of each waiting for a dead endpoint).
 * `invalidate()` drops the value after the upstream said 401/403.
 */

export interface Expiring<T> {
  readonly value: T
  /** Epoch ms when the value stops working; undefined = never expires. */
  readonly expiresAt?: number | undefined
}

export interface CacheOptions {
  /** Start refreshing this long before expiry (default 5 min). */
  readonly refreshBeforeMs?: number
  /** Callers wait for a new value this long before expiry (default 30 s). */
  readonly mandatoryMs?: number
  /** After a failed background refresh, wait this long before trying again (default 5 s). */
  readonly retryMs?: number
  /** With nothing usable cached, repeat a failure this long before fetching again (default 2 s). */
  readonly failBackoffMs?: number
  /** Never cache: every `get` fetches (still one fetch for concurrent callers). */
  readonly noCache?: boolean
  /** Told about a failed background refresh (the old value keeps being served). */
  readonly onBackgroundError?: (err: unknown) => void
  /** Clock, for tests. */
  readonly now?: () => number
}

export class Cached<T> {
  private current: Expiring<T> | null = null
  private pending: Promise<Expiring<T>> | null = null
  private lastFailure = 0
  private lastError: unknown = null
  private readonly before: number
  private readonly mandatory: number
  private readonly retry: number
  private readonly now: () => number

  constructor (private readonly fetch: () => Promise<Expiring<T>>, private readonly o: CacheOptions = {}) {
    this.before = o.refreshBeforeMs ?? 5 * 60_000
    this.mandatory = Math.min(o.mandatoryMs ?? 30_000, this.before)
    this.retry = o.retryMs ?? 5_000
    this.now = o.now ?? Date.now
  }

  /** The value when it can be used without waiting (starting a background refresh if due), else null. */
  peek (): T | null {
    const c = this.current
    if (c === null || this.o.noCache === true) return null
    if (c.expiresAt === undefined) return c.value
    const left = c.expiresAt - this.now()
    if (left <= this.mandatory) return null
    if (left <= this.before) this.background()
    return c.value
  }

  /** The value, fetching one when there is none usable. */
  get (): Promise<T> {
    const v = this.peek()
    if (v !== null) return Promise.resolve(v)
    if (this.pending === null && this.lastError !== null && this.now() - this.lastFailure < (this.o.failBackoffMs ?? 2_000)) {
      return Promise.reject(this.lastError)
    }
    return this.refresh().then((e) => e.value)
  }

  /** Forget the value (the upstream refused it). The next `get` fetches a new one. */
  invalidate (): void {
    this.current = null
    this.lastError = null
  }

  /** Expiry of the held value (for logs and tests). */
  get expiresAt (): number | undefined { return this.current?.expiresAt }

  private refresh (): Promise<Expiring<T>> {
    if (this.pending !== null) return this.pending
    const p = this.fetch().then((e) => {
      if (this.pending === p) this.pending = null
      if (this.o.noCache !== true) this.current = e
      this.lastError = null
      return e
    }, (err: unknown) => {
      if (this.pending === p) this.pending = null
      this.lastFailure = this.now()
      this.lastError = err
      throw err
    })
    this.pending = p
    return p
  }

  private background (): void {
    if (this.pending !== null || this.now() - this.lastFailure < this.retry) return
    this.refresh().catch((err: unknown) => { this.o.onBackgroundError?.(err) })
  }
}
