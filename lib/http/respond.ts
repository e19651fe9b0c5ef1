/**
 * Response writers: the only code that turns results and errors into HTTP.
 *
 * Every response carries the same baseline headers (`x-request-id`, the security headers, Weir's
 * version in `x-cc-gateway-version`, and HSTS when Weir terminates TLS itself). Errors become the
 * envelope their code's registry entry names (`lib/errors.ts`): the Anthropic envelope for
 * bearer/API routes, RFC 6749 JSON for OAuth routes.
 *
 * uWS rules followed here: status first, then headers, then body; every write from an async
 * callback is corked; nothing touches `res` once the request was aborted.
 *
 * An answer sent while the request's body is still unread (`rq.bodyOpen`: a refusal before or
 * during the upload) closes the connection after it, so the gateway never reads on; every other
 * answer leaves a keep-alive connection open.
 */
import { STATUS_CODES } from 'node:http'
import type { HttpResponse } from 'uWebSockets.js'
import { GatewayError, errorBody, errorHeaders, isGatewayError } from '../errors.js'
import { describeError, ops } from '../log.js'
import { VERSION } from '../version.js'
import { endWhole } from './cork.js'
import { finish, type Req } from './request.js'

const STATUS_LINE: Buffer[] = []
/**
 * `"404 Not Found"` for uWS's writeStatus; unknown codes get a bare number plus a space. Bytes,
 * cached per status: uWS copies a Buffer as it is but must convert a string to UTF-8 on every call.
 */
export function statusLine (status: number): Buffer {
  let s = STATUS_LINE[status]
  if (s === undefined) {
    s = Buffer.from(`${status} ${STATUS_CODES[status] ?? ''}`.trimEnd(), 'latin1')
    STATUS_LINE[status] = s
  }
  return s
}

let hsts = false
/** Turn on `Strict-Transport-Security` (only when Weir terminates TLS itself). */
export function setHsts (on: boolean): void { hsts = on }

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1')
/** The constant baseline headers, as name/value bytes (see statusLine). */
const BASE = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['x-cc-gateway-version', VERSION],
].map(([k, v]) => [bytes(k as string), bytes(v as string)] as const)
const REQUEST_ID = bytes('x-request-id')
const HSTS = [bytes('strict-transport-security'), bytes('max-age=31536000; includeSubDomains')] as const

/** Write the baseline headers. Call right after `writeStatus`. */
export function writeBaseHeaders (res: HttpResponse, rq: Req): void {
  res.writeHeader(REQUEST_ID, rq.id)
  for (let i = 0; i < BASE.length; i++) { const h = BASE[i] as readonly [Buffer, Buffer]; res.writeHeader(h[0], h[1]) }
  if (hsts) res.writeHeader(HSTS[0], HSTS[1])
}

export type Headers = Record<string, string | readonly string[]>

function writeHeaders (res: HttpResponse, headers: Headers | undefined): void {
  if (headers === undefined) return
  for (const k in headers) {
    const v = headers[k] as string | readonly string[]
    if (typeof v === 'string') res.writeHeader(k, v)
    else for (const one of v) res.writeHeader(k, one)
  }
}

/**
 * Send a complete response. Safe to call from async code (corks) and after an abort (no-op).
 * `body` may be a string or bytes.
 */
export function send (res: HttpResponse, rq: Req, status: number, body: string | Uint8Array, headers?: Headers): void {
  if (rq.aborted || rq.done) return
  res.cork(() => {
    res.writeStatus(statusLine(status))
    writeBaseHeaders(res, rq)
    writeHeaders(res, headers)
    endWhole(res, body, rq.bodyOpen)
  })
  rq.started = true
  finish(rq)
}

/** Send a JSON response with `content-type: application/json`. */
export function sendJson (res: HttpResponse, rq: Req, status: number, value: unknown, headers?: Headers): void {
  send(res, rq, status, typeof value === 'string' ? value : JSON.stringify(value),
    headers === undefined ? JSON_CT : { ...JSON_CT, ...headers })
}

/** Send an empty-bodied response (e.g. 304). */
export function sendEmpty (res: HttpResponse, rq: Req, status: number, headers?: Headers): void {
  if (rq.aborted || rq.done) return
  res.cork(() => {
    res.writeStatus(statusLine(status))
    writeBaseHeaders(res, rq)
    writeHeaders(res, headers)
    // endWithoutBody cannot close (20.30 mis-frames `endWithoutBody(undefined, true)`): an empty end can.
    if (rq.bodyOpen) res.end('', true)
    else res.endWithoutBody()
  })
  rq.started = true
  finish(rq)
}

const JSON_CT = { 'content-type': 'application/json' } as const

/**
 * Send an error. A `GatewayError` renders in its registered envelope; anything else is logged and
 * becomes a 500 `api_error` that reveals nothing. When the status line was already sent (a stream
 * in progress) the connection is closed instead, since no envelope can follow. The body's
 * `request_id` is the request's own id, another id (`requestId: '…'`, e.g. the admin API's), or
 * none (`requestId: false`).
 */
export function sendError (res: HttpResponse, rq: Req, err: unknown, opts?: { requestId?: boolean | string, headers?: Headers }): void {
  if (rq.aborted || rq.done) return
  let ge: GatewayError
  if (isGatewayError(err)) {
    ge = err
    if (ge.detail !== undefined) ops.warn(`${ge.code} request_id=${rq.id}: ${ge.detail}`)
  } else {
    ops.error(`unhandled error request_id=${rq.id} ${rq.method} ${rq.path}: ${describeError(err)}`)
    ge = new GatewayError('GW_INTERNAL')
  }
  if (rq.started) {
    res.cork(() => res.close())
    finish(rq)
    return
  }
  const headers: Headers = { ...JSON_CT, ...errorHeaders(ge), ...opts?.headers }
  const rid = opts?.requestId === false || ge.envelope === 'oauth' ? undefined : typeof opts?.requestId === 'string' ? opts.requestId : rq.id
  send(res, rq, ge.status, errorBody(ge, rid), headers)
}

/** Shorthand: send the error for a registry code. */
export function fail (res: HttpResponse, rq: Req, code: GatewayError['code'], message?: string, headers?: Record<string, string>): void {
  sendError(res, rq, new GatewayError(code, message, headers === undefined ? undefined : { headers }))
}

/** HTML page headers: no caching, a strict CSP (`csp` replaces the default). */
export function htmlHeaders (csp?: string): Headers {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-security-policy': csp ?? "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
  }
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;')
}
