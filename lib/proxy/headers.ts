/**
 * Which headers cross the gateway, in each direction.
 *
 * Client → upstream: an allow-list (content type, Anthropic version and betas, the SDK's
 * `x-stainless-*` telemetry, the user agent with Weir's token appended). The client's
 * `authorization`/`x-api-key` never pass: the upstream's own credential is applied instead.
 * `accept-encoding` is pinned to identity so the stream arrives as plain SSE the usage tap can read
 * and the client receives byte for byte.
 *
 * Upstream → client: everything except hop-by-hop and framing headers (uWS does its own framing:
 * a forwarded `content-length` would corrupt it), upstream rate-limit headers (they describe the
 * operator's organisation quota, not the developer's), and headers naming upstream infrastructure.
 */
import { VERSION } from '../version.js'

const UA_TOKEN = `weir/${VERSION}`

/** Headers copied from the client request when present. */
const PASS = ['content-type', 'accept', 'anthropic-version', 'anthropic-beta'] as const

/**
 * The headers to send upstream, minus credentials (the upstream adapter adds those).
 * `extraBetas` are appended to `anthropic-beta` (e.g. an OAuth capability value).
 */
export function forwardHeaders (h: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of PASS) {
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
