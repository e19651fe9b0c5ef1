/**
 * The dispatcher cloud upstreams hand the hot path: their connection pool, plus what the pool
 * alone cannot do, each decided per request from what `prepare` put in the outgoing request:
 *
 *   - watch credentials: a 401/403 from the provider drops the cached credential (at most once per
 *     30 s), so the next request fetches a new one — this request still fails over as usual;
 *   - reshape a reply: Bedrock's CountTokens answers `{"inputTokens":N}`; it is turned into the
 *     Messages API's `{"input_tokens":N}`, and any failure into a `not_supported` refusal that
 *     fails over (the hot path answers 501 with `x-should-retry: false` when no upstream can count);
 *     and with `guardrail_trace`, Bedrock's JSON replies lose the trace (it goes to the operator log).
 *
 * It speaks undici's current handler interface (the one lib/proxy/bridge.ts implements), controller
 * included: the wrappers pass the request's controller on, and a synthetic reply uses it too.
 */
import type { Dispatcher } from 'undici'
import { GatewayError } from '../../errors.js'
import { ops } from '../../log.js'
import type { Handler } from './local.js'
import type { Sender, Upstream } from './types.js'

type Controller = Dispatcher.DispatchController
type Headers = Record<string, string | string[] | undefined>

/** Reshapes a successful count reply; null when the reply is not usable. */
export type CountReshaper = (body: Buffer) => Buffer | null

export interface SenderHooks {
  /** For successful JSON replies to requests whose path this matches: rewrite the whole body. */
  readonly json?: {
    readonly matches: (path: string) => boolean
    readonly reshape: (body: Buffer) => Buffer
  }
  /** Called (debounced) when the provider answers 401 or 403. */
  readonly onAuthFailure?: () => void
  /** For requests whose path this matches: reshape the reply, or refuse with not_supported. */
  readonly count?: {
    readonly matches: (path: string) => boolean
    readonly reshape: CountReshaper
    /** Told the outcome: null on success, else the status (0 = unusable answer) and body. */
    readonly outcome: (path: string, status: number | null, body: Buffer | null) => void
    readonly refusal: string
  }
}

/** Calls `hook` when the response status is 401/403; otherwise a transparent pass-through. */
class AuthWatch implements Handler {
  constructor (private readonly inner: Handler, private readonly hook: () => void) {}
  onRequestStart (c: Controller, context: unknown): void { this.inner.onRequestStart(c, context) }
  onResponseStart (c: Controller, status: number, headers: Headers, text?: string): void {
    if (status === 401 || status === 403) this.hook()
    this.inner.onResponseStart(c, status, headers, text)
  }

  onResponseData (c: Controller, chunk: Buffer): void { this.inner.onResponseData(c, chunk) }
  onResponseEnd (c: Controller, trailers: Headers): void { this.inner.onResponseEnd(c, trailers) }
  onResponseError (c: Controller, err: Error): void { this.inner.onResponseError(c, err) }
}

/** Buffers a count reply and hands the hot path either the reshaped body or a refusal. */
class CountReply implements Handler {
  private status = 0
  private chunks: Buffer[] = []
  private bytes = 0
  constructor (private readonly inner: Handler, private readonly path: string, private readonly hooks: NonNullable<SenderHooks['count']>) {}
  onRequestStart (c: Controller, context: unknown): void { this.inner.onRequestStart(c, context) }
  onResponseStart (c: Controller, status: number): void { this.status = status }
  onResponseData (c: Controller, chunk: Buffer): void {
    if (this.bytes < 65536) { this.chunks.push(chunk); this.bytes += chunk.length }
  }

  onResponseEnd (c: Controller): void {
    const body = Buffer.concat(this.chunks)
    const out = this.status >= 200 && this.status < 300 ? this.hooks.reshape(body) : null
    if (out === null) {
      this.hooks.outcome(this.path, this.status >= 200 && this.status < 300 ? 0 : this.status, body)
      this.inner.onResponseError(c, new GatewayError('GW_NOT_SUPPORTED', this.hooks.refusal))
      return
    }
    this.hooks.outcome(this.path, null, null)
    this.inner.onResponseStart(c, 200, { 'content-type': 'application/json' }, 'OK')
    this.inner.onResponseData(c, out)
    this.inner.onResponseEnd(c, {})
  }

  onResponseError (c: Controller, err: Error): void { this.inner.onResponseError(c, err) }
}

/** Buffers a successful JSON reply and passes on the reshaped body; anything else passes through. */
class JsonReply implements Handler {
  private ok = false
  private headers: Headers = {}
  private chunks: Buffer[] = []
  private bytes = 0
  constructor (private readonly inner: Handler, private readonly reshape: (body: Buffer) => Buffer) {}
  onRequestStart (c: Controller, context: unknown): void { this.inner.onRequestStart(c, context) }
  onResponseStart (c: Controller, status: number, headers: Headers, text?: string): void {
    const v = headers['content-type']
    const ct = (typeof v === 'string' ? v : v?.[0]) ?? ''
    this.ok = status >= 200 && status < 300 && ct.startsWith('application/json')
    if (!this.ok) { this.inner.onResponseStart(c, status, headers, text); return }
    this.headers = headers
  }

  onResponseData (c: Controller, chunk: Buffer): void {
    if (!this.ok) { this.inner.onResponseData(c, chunk); return }
    if (this.bytes <= 16 * 1024 * 1024) { this.chunks.push(chunk); this.bytes += chunk.length }
  }

  onResponseEnd (c: Controller, trailers: Headers): void {
    if (this.ok) {
      let body: Buffer = Buffer.concat(this.chunks)
      try { body = this.reshape(body) } catch {}
      this.inner.onResponseStart(c, 200, this.headers, 'OK')
      this.inner.onResponseData(c, body)
    }
    this.inner.onResponseEnd(c, trailers)
  }

  onResponseError (c: Controller, err: Error): void { this.inner.onResponseError(c, err) }
}

export class CloudSender implements Sender {
  private lastInvalidation = 0

  constructor (readonly inner: Sender, private readonly name: string, private readonly hooks: SenderHooks = {}) {}

  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    let h = handler as Handler
    const count = this.hooks.count
    if (count !== undefined && count.matches(String(opts.path))) h = new CountReply(h, String(opts.path), count)
    const json = this.hooks.json
    if (json !== undefined && json.matches(String(opts.path))) h = new JsonReply(h, json.reshape)
    const onAuth = this.hooks.onAuthFailure
    if (onAuth !== undefined) {
      h = new AuthWatch(h, () => {
        const now = Date.now()
        if (now - this.lastInvalidation < 30_000) return
        this.lastInvalidation = now
        ops.warn(`upstream ${this.name} refused its credential (401/403): the cached credential was dropped and the next request fetches a new one`)
        onAuth()
      })
    }
    return this.inner.dispatch(opts, h as Dispatcher.DispatchHandler)
  }

  async close (): Promise<void> { await this.inner.close() }
}

/**
 * The upstream record every cloud provider returns: its error texts are replaced by gateway-authored
 * ones (they can carry account ids), and the gateway pings its silent streams.
 */
export function cloudUpstream (name: string, provider: string, dispatcher: CloudSender, prepare: Upstream['prepare'],
  extra: { decoder?: NonNullable<Upstream['decoder']>, invalidateCredentials?: (() => void) | undefined } = {}): Upstream {
  const u: Upstream = { name, provider, sanitizeErrors: true, needsPings: true, dispatcher, prepare, close: async () => { await dispatcher.close() } }
  return Object.assign(u, extra.decoder !== undefined ? { decoder: extra.decoder } : {}, extra.invalidateCredentials !== undefined ? { invalidateCredentials: extra.invalidateCredentials } : {})
}
