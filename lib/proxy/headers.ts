/**
 * Which headers cross the gateway, in each direction.
 *
 * Client → upstream: an allow-list (content type, Anthropic version and betas, the SDK's
 * `x-stainless-*` telemetry, the user agent with Weir's token appended). The client's
 * `authorization`/`x-api-key` never pass: the upstream's own credential is applied instead.
 * `accept-encoding` is pinned to identity so the stream arrives as plain SSE the usage tap can read
 * and the client receives byte for byte.
 *
 * Every forwarded value is checked first (`checkForwarded`): an RFC 9110 field value (no control
 * characters but HTAB, no DEL) of bounded length, under a token name. A bad one is the client's
 * 400, answered before any upstream is contacted; copied on, the HTTP client would refuse it and
 * the refusal would look like an upstream failure (a 502 and a failover).
 *
 * Upstream → client: everything except hop-by-hop and framing headers (uWS does its own framing:
 * a forwarded `content-length` would corrupt it), upstream rate-limit headers (they describe the
 * operator's organisation quota, not the developer's), and headers naming upstream infrastructure.
 */
import { GatewayError } from '../errors.js'
import { VERSION } from '../version.js'
import { echo } from './echo.js'

const UA_TOKEN = `weir/${VERSION}`

/** Headers copied from the client request when present. */
const PASS = ['content-type', 'accept', 'anthropic-version', 'anthropic-beta'] as const

/** Longest forwarded header value accepted, in characters. */
export const MAX_FORWARDED_VALUE = 8192

/** An RFC 9110 field value: HTAB, visible ASCII, space, obs-text (0x80–0xFF); nothing else. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
/** An RFC 9110 token (header names). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

function forwarded (name: string): boolean {
  return name === 'user-agent' || name.startsWith('x-stainless-') || (PASS as readonly string[]).includes(name)
}

/**
 * Refuse a request whose forwarded headers cannot be sent on as they are: a 400 naming the header
 * (quoted, bounded, escaped). Null when every forwarded header is fine.
 */
export function checkForwarded (h: Readonly<Record<string, string>>): GatewayError | null {
  for (const k in h) {
    if (!forwarded(k)) continue
    const v = h[k] as string
    if (!TOKEN.test(k)) return new GatewayError('GW_BAD_REQUEST', `header name ${echo(k)} is not a valid HTTP token`)
    if (v.length > MAX_FORWARDED_VALUE) return new GatewayError('GW_BAD_REQUEST', `header ${echo(k)} is longer than ${MAX_FORWARDED_VALUE} characters`)
    if (BAD_VALUE.test(v)) return new GatewayError('GW_BAD_REQUEST', `header ${echo(k)} contains a control character (only tab, space and visible characters are allowed)`)
  }
  return null
}

/**
 * The headers to send upstream, minus credentials (the upstream adapter adds those).
 * `extraBetas` are appended to `anthropic-beta` (e.g. an OAuth capability value).
 */
export function forwardHeaders (h: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < PASS.length; i++) {
    const k = PASS[i] as string
    const v = h[k]
    if (v !== undefined) out[k] = v
  }
  for (const k in h) if (k.startsWith('x-stainless-')) out[k] = h[k] as string
  const ua = h['user-agent']
  out['user-agent'] = ua === undefined || ua === '' ? UA_TOKEN : `${ua} ${UA_TOKEN}`
  out['accept-encoding'] = 'identity'
  out['content-type'] ??= 'application/json'
  return out
}

/** Response headers never relayed to the client. */
const DROP = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'upgrade',
  'proxy-connection', 'te', 'trailer', 'date', 'server', 'cf-ray', 'cf-cache-status', 'via',
  'set-cookie', 'alt-svc', 'request-id', 'x-request-id', 'strict-transport-security',
  'x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-opener-policy',
  'x-cc-gateway-version', 'x-envoy-upstream-service-time',
])

/** True when the upstream response header `name` (lower-case) may be relayed. */
export function relayable (name: string): boolean {
  return !DROP.has(name) && !name.startsWith('anthropic-ratelimit-') && !name.startsWith('x-amzn-') && !name.startsWith('x-goog-')
}

/** Append values to a comma-separated `anthropic-beta` header (deduplicated). */
export function addBetas (current: string | undefined, extra: readonly string[]): string {
  const have = (current ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const b of extra) if (!have.includes(b)) have.push(b)
  return have.join(',')
}

/** Encode an identity value for `forward_user_identity` headers: printable ASCII, `%` escaped. */
export function identityHeaderValue (v: string): string {
  let out = ''
  for (const ch of v.trim()) {
    const c = ch.codePointAt(0) as number
    if (c >= 0x20 && c < 0x7f && ch !== '%') out += ch
    else out += encodeURIComponent(ch)
  }
  return out
}
