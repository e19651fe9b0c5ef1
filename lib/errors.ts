/**
 * The one registry of errors Weir can answer with.
 *
 * Every failure a client can see is a `GatewayError` carrying a stable `code`. The table below maps
 * each code to its HTTP status, the Anthropic `error.type` (or OAuth `error` code) and whether the
 * client should retry. `lib/http/respond.ts` is the only place that turns one into bytes on the
 * wire, so statuses and envelopes cannot drift between subsystems. Callers switch on `err.code`,
 * never on the message.
 */

/** How an error is rendered. `anthropic` = `{"type":"error","error":{type,message}}`; `oauth` = RFC 6749 `{"error":...}`. */
export type Envelope = 'anthropic' | 'oauth'

interface Spec {
  /** HTTP status. */
  readonly status: number
  /** Anthropic `error.type`, or the OAuth `error` code for OAuth envelopes. */
  readonly type: string
  readonly envelope: Envelope
  /** When false, the response carries `x-should-retry: false`. Undefined = header omitted. */
  readonly retry?: boolean
  /** Default message when none is given. */
  readonly message: string
}

const a = (status: number, type: string, message: string, retry?: boolean): Spec =>
  retry === undefined ? { status, type, envelope: 'anthropic', message } : { status, type, envelope: 'anthropic', message, retry }
const o = (status: number, type: string): Spec => ({ status, type, envelope: 'oauth', message: type })

/** code → rendering. Append new codes; never reuse a removed one for something else. */
export const ERRORS = {
  // request framing (every route)
  GW_NOT_FOUND: a(404, 'not_found_error', 'not found'),
  GW_METHOD_NOT_ALLOWED: a(405, 'invalid_request_error', 'method not allowed'),
  GW_LENGTH_REQUIRED: a(411, 'invalid_request_error', 'a Content-Length header is required'),
  GW_BODY_TOO_LARGE: a(413, 'request_too_large', 'request body is larger than this gateway accepts'),
  GW_URI_TOO_LONG: a(414, 'invalid_request_error', 'request URL is too long'),
  GW_HEADERS_TOO_LARGE: a(431, 'invalid_request_error', 'request headers are too large'),
  GW_BAD_REQUEST: a(400, 'invalid_request_error', 'malformed request'),
  GW_IP_DENIED: a(403, 'permission_error', 'forbidden'),
  GW_INTERNAL: a(500, 'api_error', 'internal server error'),
  GW_NOT_READY: a(503, 'api_error', 'the gateway is not ready yet'),
  GW_STORE_UNAVAILABLE: a(503, 'api_error', 'store unavailable'),
  GW_RATE_LIMITED: a(429, 'rate_limit_error', 'too many requests'),
  GW_BODY_TIMEOUT: a(408, 'timeout_error', 'request body arrived too slowly'),
  GW_OVERLOADED: a(529, 'overloaded_error', 'the gateway is busy reading other request bodies; retry shortly'),

  // bearer authentication
  GW_AUTH_MISSING: a(401, 'authentication_error', 'missing bearer token', false),
  GW_AUTH_INVALID: a(401, 'authentication_error', 'invalid token', false),
  GW_AUTH_EXPIRED: a(401, 'authentication_error', 'session expired; sign in again', false),
  GW_AUTH_REVOKED: a(401, 'authentication_error', 'session was signed out; sign in again', false),
  GW_FORBIDDEN: a(403, 'permission_error', 'not allowed'),

  // inference request validation and policy
  GW_INVALID_JSON: a(400, 'invalid_request_error', 'invalid JSON'),
  GW_MODEL_REQUIRED: a(400, 'invalid_request_error', 'model is required'),
  GW_MODEL_DENIED: a(400, 'invalid_request_error', 'model is not allowed'),
  GW_MODEL_UNKNOWN: a(400, 'invalid_request_error', 'model is not available on this gateway'),
  GW_NOT_SUPPORTED: a(501, 'not_supported', 'not supported by this gateway', false),

  // upstreams
  GW_UPSTREAM_TIMEOUT: a(504, 'api_error', 'upstream did not answer in time'),
  GW_UPSTREAM_UNAVAILABLE: a(502, 'api_error', 'all upstreams failed'),
  GW_UPSTREAM_OVERLOADED: a(529, 'overloaded_error', 'upstream overloaded'),
  GW_CLIENT_CLOSED: a(499, 'api_error', 'client closed request'),

  // spend
  GW_SPEND_BLOCKED: a(429, 'billing_error', 'spend limit reached', false),
  GW_SPEND_UNAVAILABLE: a(429, 'billing_error', 'spend limit unavailable', false),

  // customer-routed inference (lib/cri)
  GW_CRI_UNAVAILABLE: a(503, 'api_error', 'customer-routed inference is temporarily unavailable'),
  GW_POLICY_BLOCKED: a(400, 'policy_blocked', 'the request was blocked by the content policy', false),
  GW_POLICY_UNAVAILABLE: a(503, 'api_error', 'the content policy check is unavailable', false),

  // admin API
  GW_ADMIN_AUTH: a(401, 'authentication_error', 'missing or invalid admin credentials'),

  // OAuth endpoints (RFC 6749 / RFC 8628 / RFC 7009)
  OAUTH_INVALID_REQUEST: o(400, 'invalid_request'),
  OAUTH_UNSUPPORTED_GRANT: o(400, 'unsupported_grant_type'),
  OAUTH_AUTHORIZATION_PENDING: o(400, 'authorization_pending'),
  OAUTH_SLOW_DOWN: o(400, 'slow_down'),
  OAUTH_SLOW_DOWN_429: o(429, 'slow_down'),
  OAUTH_ACCESS_DENIED: o(400, 'access_denied'),
  OAUTH_EXPIRED_TOKEN: o(400, 'expired_token'),
  OAUTH_INVALID_GRANT: o(401, 'invalid_grant'),
  OAUTH_TEMPORARILY_UNAVAILABLE: o(503, 'temporarily_unavailable'),
  OAUTH_UNSUPPORTED_TOKEN_TYPE: o(400, 'unsupported_token_type'),
} as const satisfies Record<string, Spec>

export type GatewayErrorCode = keyof typeof ERRORS

const BRAND = Symbol.for('weir.error.GatewayError')

/** A failure with a stable code; the message is what the client sees (keep secrets out of it). */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode
  /** Extra response headers (e.g. `retry-after`). */
  readonly headers: Readonly<Record<string, string>> | undefined
  /** Detail for the operator log only; never sent to the client. */
  readonly detail: string | undefined

  constructor (code: GatewayErrorCode, message?: string, opts?: { headers?: Record<string, string>, detail?: string, cause?: unknown }) {
    super(message ?? ERRORS[code].message, opts?.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'GatewayError'
    this.code = code
    this.headers = opts?.headers
    this.detail = opts?.detail
    ;(this as unknown as Record<symbol, boolean>)[BRAND] = true
  }

  get status (): number { return ERRORS[this.code].status }
  get type (): string { return ERRORS[this.code].type }
  get envelope (): Envelope { return ERRORS[this.code].envelope }

  static override [Symbol.hasInstance] (v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true
  }
}

export const isGatewayError = (v: unknown): v is GatewayError => v instanceof GatewayError

/** Headers implied by the code itself (x-should-retry), merged with the error's own. */
export function errorHeaders (err: GatewayError): Record<string, string> {
  const spec: Spec = ERRORS[err.code]
  const h: Record<string, string> = {}
  if (spec.retry === false) h['x-should-retry'] = 'false'
  if (spec.envelope === 'oauth') { h['cache-control'] = 'no-store'; h.pragma = 'no-cache' }
  if (err.headers !== undefined) Object.assign(h, err.headers)
  return h
}

/**
 * The Anthropic error envelope, the one shape every gateway-authored Anthropic error takes on the
 * wire (a JSON body or an SSE `error` event's data): `{"type":"error","error":{type,message},"request_id"?}`.
 * `type` is a registry type, or the one an upstream's status maps to when its answer is rewritten.
 */
export function anthropicEnvelope (type: string, message: string, requestId?: string): string {
  return requestId === undefined
    ? JSON.stringify({ type: 'error', error: { type, message } })
    : JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId })
}

/**
 * The JSON body for an error. Anthropic envelope: `{"type":"error","error":{...},"request_id"?}`;
 * OAuth: `{"error":code,"error_description"?}`.
 */
export function errorBody (err: GatewayError, requestId?: string): string {
  const spec: Spec = ERRORS[err.code]
  if (spec.envelope === 'oauth') {
    return err.message === spec.type
      ? JSON.stringify({ error: spec.type })
      : JSON.stringify({ error: spec.type, error_description: err.message })
  }
  return anthropicEnvelope(spec.type, err.message, requestId)
}

/** The SSE `error` event that ends a stream already under way (its status line was sent). */
export function errorEvent (err: GatewayError, requestId?: string): string {
  return `event: error\ndata: ${anthropicEnvelope(ERRORS[err.code].type, err.message, requestId)}\n\n`
}

/** undici's codes for an upstream that went silent: no response headers, or no body bytes, in time. */
const UPSTREAM_TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/**
 * The registry error for an upstream request that failed without an answer (the one place
 * undici's error codes are read): a headers or body timeout is `GW_UPSTREAM_TIMEOUT`; anything
 * else (refused, reset, DNS, TLS, a connect timeout, a broken stream) is `GW_UPSTREAM_UNAVAILABLE`.
 * A `GatewayError` is returned as it is.
 */
export function upstreamFailure (err: unknown, message?: string): GatewayError {
  if (isGatewayError(err)) return err
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return new GatewayError(typeof code === 'string' && UPSTREAM_TIMEOUTS.has(code) ? 'GW_UPSTREAM_TIMEOUT' : 'GW_UPSTREAM_UNAVAILABLE', message)
}

/** Boot-time failure (bad config, unreachable Postgres, failed discovery). Exit code 78 for config problems, 1 otherwise. */
export class BootError extends Error {
  readonly exitCode: number
  /** One line per problem, already formatted for stderr. */
  readonly lines: readonly string[]
  constructor (lines: readonly string[], exitCode = 1, opts?: { cause?: unknown }) {
    super(lines.join('\n'), opts?.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'BootError'
    this.lines = lines
    this.exitCode = exitCode
  }
}

/** EX_CONFIG from sysexits.h: the configuration is invalid. */
export const EX_CONFIG = 78
