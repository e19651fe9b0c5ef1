/**
 * The per-request record every handler receives.
 *
 * uWebSockets.js gives handlers a stack-allocated `HttpRequest` that is only valid until the
 * handler first returns or awaits, so everything a handler may need later is copied here
 * synchronously: method, path, query, all headers, the peer address. The record is a plain object
 * of fixed shape created in one place (`captureRequest`), which keeps V8's inline caches happy.
 *
 * `finish` is the single exit: whoever ends the response (respond.ts writers, the streaming proxy,
 * the abort handler) calls it once, which marks the record done and lets the worker count
 * in-flight requests for graceful drain.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { newRequestId } from './request-id.js'

export interface Req {
  /** Upper-case method as sent. */
  readonly method: string
  /** Path without the query string. */
  readonly path: string
  /** Raw query string without `?` ('' when none). */
  readonly query: string
  /** All request headers, names lower-cased. A repeated header keeps its last value, except cookies which are joined. */
  readonly headers: Record<string, string>
  /** Sum over headers of name + value + 4, for `limits.max_request_header_bytes`. */
  readonly headerBytes: number
  /** TCP peer address as text (unnormalised). */
  readonly peer: string
  /** Request id: the client's `x-client-request-id` when well-formed, else a fresh UUID. */
  readonly id: string
  /** `performance.now()` when the request arrived. */
  readonly t0: number
  /** Resolved client IP, filled lazily by `clientIp()` in the dispatcher. */
  ip: string
  /** True once the client went away; `res` must not be touched after that. */
  aborted: boolean
  /** True once status and headers were written. */
  started: boolean
  /** True once the response ended (or the request was aborted). */
  done: boolean
  /** Called once if the client aborts before `done` (e.g. to cancel the upstream request). */
  onAbort: (() => void) | null
  /** Called once when the request is finished, for in-flight accounting. */
  onFinish: ((rq: Req) => void) | null
  /**
   * True while a body the client announced (a non-zero Content-Length, or Transfer-Encoding) has
   * not been read to its end. An answer sent in that state closes the connection (respond.ts):
   * the gateway never reads on after refusing a request.
   */
  bodyOpen: boolean
  /** Set by a body read in progress (body.ts); called by `finish` so an abandoned read frees its budget. */
  onBodyDone: (() => void) | null
  /**
   * Why the request's body framing is ambiguous (null when it is not): Content-Length repeated
   * with different values, or Transfer-Encoding at all. uWS frames the body by the first
   * Content-Length and does not decode chunked bodies (20.30), while `headers` keeps the last
   * value; whenever the two readings could differ the bytes after the head may hold a request
   * uWS would parse and serve (request smuggling), so the router refuses these and closes the
   * connection before anything behind them is parsed.
   */
  readonly badFraming: string | null
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/
const decoder = new TextDecoder()

// The header walk's state: `captureRequest` is synchronous, so one module-level callback serves
// every request (no closure per request).
const WALKED: Record<string, string> = Object.freeze({}) as Record<string, string>
let walkHeaders = WALKED
let walkBytes = 0
let walkBad: string | null = null
function walkHeader (k: string, v: string): void {
  const headers = walkHeaders
  walkBytes += k.length + v.length + 4
  if (k === 'content-length' && headers[k] !== undefined && headers[k] !== v) walkBad = 'conflicting Content-Length headers'
  if (k === 'cookie' && headers.cookie !== undefined) headers.cookie += '; ' + v
  else headers[k] = v
}

/** Copy what handlers need out of uWS's request. Must run synchronously at the start of the handler. */
export function captureRequest (res: HttpResponse, req: HttpRequest): Req {
  const headers: Record<string, string> = {}
  walkHeaders = headers
  walkBytes = 0
  walkBad = null
  req.forEach(walkHeader)
  walkHeaders = WALKED
  const headerBytes = walkBytes
  const badFraming = walkBad
  const cid = headers['x-client-request-id']
  return {
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET and gets a 405, never GET's handler.
    method: req.getCaseSensitiveMethod(),
    path: targetPath(req.getUrl()),
    query: req.getQuery() ?? '',
    headers,
    headerBytes,
    peer: decoder.decode(res.getRemoteAddressAsText()),
    id: cid !== undefined && REQUEST_ID.test(cid) ? cid : newRequestId(),
    t0: performance.now(),
    ip: '',
    aborted: false,
    started: false,
    done: false,
    onAbort: null,
    onFinish: null,
    bodyOpen: (headers['content-length'] !== undefined && headers['content-length'] !== '0') || headers['transfer-encoding'] !== undefined,
    onBodyDone: null,
    badFraming: headers['transfer-encoding'] !== undefined
      ? (headers['content-length'] !== undefined ? 'Transfer-Encoding with Content-Length' : 'Transfer-Encoding (a Content-Length is required)')
      : badFraming,
  }
}

/**
 * The path of a request target. Origin-form (`/v1/messages`) is returned as is; absolute-form
 * (`http://host/v1/messages`, which RFC 9112 requires servers to accept and proxies send) is
 * reduced to its path, so it routes like the origin-form request it stands for. (The uWS builds
 * Weir runs refuse absolute-form in their parser today — 20.57 answers 505 — so this is the
 * defence for a build that hands it through.)
 */
export function targetPath (url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url
  const m = /^https?:\/\/[^/?#]*/i.exec(url)
  if (m === null) return url
  const rest = url.slice(m[0].length)
  return rest === '' || rest.charCodeAt(0) !== 47 ? '/' + rest : rest
}

/** Mark the request finished (idempotent). */
export function finish (rq: Req): void {
  if (rq.done) return
  rq.done = true
  const b = rq.onBodyDone
  rq.onBodyDone = null
  if (b !== null) b()
  const f = rq.onFinish
  rq.onFinish = null
  if (f !== null) f(rq)
}

/** Parse an `application/x-www-form-urlencoded` body. Repeated keys keep the first value. */
export function parseForm (body: Buffer | string): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))) {
    if (!out.has(k)) out.set(k, v)
  }
  return out
}

/** Parse the query string into a multi-map (repeated keys keep every value in order). */
export function parseQuery (query: string): URLSearchParams {
  return new URLSearchParams(query)
}

/** Value of one cookie, or undefined. */
export function getCookie (rq: Req, name: string): string | undefined {
  const raw = rq.headers.cookie
  if (raw === undefined) return undefined
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
