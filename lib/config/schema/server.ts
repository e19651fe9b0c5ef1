/**
 * Schema for the server-side sections: `listen`, `session`, `store`, `access_control`, `limits`,
 * `timeouts` and `rate_limits`.
 */
import { type Infer, coerce, object, optional, refine } from 'superstruct'
import { parseCidr } from '../../net/cidr.js'
import { def, issuesAt, list, matching, minStr, num, posInt, section, str } from './kit.js'
import { LOOPBACK_HOSTS } from './urls.js'

/** An IPv4/IPv6 address or CIDR block (IPv4-mapped IPv6 is read as IPv4). */
export const Cidr = refine(str(), 'cidr', v => parseCidr(v.trim()) !== null || 'must be a valid IP or CIDR')

const PublicUrl = coerce(
  refine(str(), 'url', v => {
    try {
      const u = new URL(v)
      return u.protocol === 'https:' || u.protocol === 'http:' || 'must be an http(s) URL'
    } catch { return 'must be an absolute URL such as https://claude-gateway.example.com' }
  }),
  str(), v => v.endsWith('/') ? v.slice(0, -1) : v)

/** A logo for the browser pages: an https URL, or an inline `data:image/…` URL. */
const LogoUrl = refine(str(), 'logo', v => {
  if (/^data:image\/(png|jpeg|gif|webp|svg\+xml|avif)[;,]/i.test(v)) return true
  try {
    const u = new URL(v)
    return (u.protocol === 'https:' && u.username === '' && u.password === '') || 'must be an https:// URL or a data:image/… URL'
  } catch { return 'must be an https:// URL or a data:image/… URL' }
})

/** `listen.branding` — Weir extension: the organization's name, logo and colour on the sign-in pages. */
export const BrandingSchema = object({
  /** Shown above each page's heading and in the tab title. */
  organization_name: optional(minStr()), // Weir extension
  /** Logo image (https or data:image), shown at most 48 px high. */
  logo_url: optional(LogoUrl), // Weir extension
  /** Primary button colour, `#rgb` or `#rrggbb`; the button text is black or white, whichever reads better. */
  accent_color: optional(matching(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, 'must be a hex colour such as #0b5fff')), // Weir extension
})

/** `listen`: where the gateway binds and how it names itself. */
export const ListenSchema = refine(object({
  /** Bind address. Default all IPv4 interfaces. */
  host: def(str(), '0.0.0.0'),
  /** TCP port. Default 8080. Coerced, so `${PORT}` works. */
  port: def(num({ int: true, min: 0, max: 65535 }), 8080),
  /** Externally visible origin, one trailing `/` removed. Required unless `host` is loopback. */
  public_url: optional(PublicUrl),
  /** Terminate TLS here: PEM file paths, read at boot. */
  tls: optional(object({ cert: str(), key: str() })),
  /** Peers whose X-Forwarded-For is believed. Default none. */
  trusted_proxies: def(list(Cidr), () => []),
  /** Weir extension: organization name, logo and accent colour on the browser pages. */
  branding: optional(BrandingSchema), // Weir extension
}), 'public_url', (v, ctx) => v.public_url !== undefined || LOOPBACK_HOSTS.has(v.host) || issuesAt(ctx, [{
  path: ['public_url'],
  message: 'required when listen.host is not a loopback address: set it to the ' +
    'origin clients use (e.g. https://claude-gateway.example.com); otherwise the IdP redirect_uri and ' +
    'token issuer would come from the client-supplied Host header',
}]))

/** One signing/verification secret: at least 32 characters. */
const JwtSecret = minStr(32)

/** `session`: the gateway's own bearer tokens. */
export const SessionSchema = object({
  /** HS256 keys; index 0 signs, all verify. A single string becomes a one-element list. */
  jwt_secret: coerce(list(JwtSecret, 1, 'must list at least one secret'), str(), s => [s]),
  /** Session lifetime in hours (fractions allowed). Default 1 hour. */
  ttl_hours: def(num({ gt: 0 }), 1),
})

/** `store`: PostgreSQL connection. */
export const StoreSchema = object({
  /** `postgres://` or `postgresql://` connection URL. */
  postgres_url: matching(/^postgres(ql)?:\/\//, 'must be postgres:// or postgresql://'),
  /** Overrides the user in the URL. */
  username: optional(str()),
  /** Overrides the password in the URL (any characters). */
  password: optional(str()),
  /** Pool size per replica. Default 5 connections. */
  max_connections: def(posInt(), 5),
  /** Connect timeout in seconds, 1-60. Default 5 s. */
  connect_timeout_seconds: def(num({ int: true, min: 1, max: 60 }), 5),
  /** Seconds /readyz may stay ready while the store is unreachable, 0-3600. Default 0 s. */
  readiness_grace_seconds: def(num({ int: true, min: 0, max: 3600 }), 0),
})

/** `access_control`: client IP allow/deny lists (after trusted-proxy resolution). */
export const AccessControlSchema = object({
  /** Non-empty = only these clients (health probes exempt). Default empty (everyone). */
  allow_cidrs: def(list(Cidr), () => []),
  /** Checked first, on every path. Default empty. */
  deny_cidrs: def(list(Cidr), () => []),
})

/** `limits`: request size limits. */
export const LimitsSchema = object({
  /** Largest accepted Content-Length in bytes. Default 33554432 (32 MiB). */
  max_request_bytes: def(posInt(), 33_554_432),
  /** Largest sum of header name+value+4 in bytes. Default unlimited. */
  max_request_header_bytes: optional(posInt()),
  /** Longest request URL in characters. Default unlimited. */
  max_url_length: optional(posInt()),
})

/** `timeouts`. */
export const TimeoutsSchema = object({
  /** Milliseconds to wait for upstream response headers (anthropic provider). Default 120000 ms (2 min). */
  upstream_ttfb_ms: def(posInt(), 120_000),
})

const window = (max: number, seconds: number) => object({
  /** Requests allowed per window, per client IP. */
  max: def(posInt(), max),
  /** Window length in seconds. */
  window_seconds: def(posInt(), seconds),
})

/** `rate_limits`: per-client-IP limits on the sign-in endpoints. */
export const RateLimitsSchema = object({
  /** POST /oauth/device_authorization. Default 30 per 600 s. */
  device_authorization: section(window(30, 600)),
  /** POST /device. Default 10 per 600 s. */
  device_verify: section(window(10, 600)),
})

export type ListenConfig = Infer<typeof ListenSchema>
export type BrandingConfig = Infer<typeof BrandingSchema>
export type SessionConfig = Infer<typeof SessionSchema>
export type StoreConfig = Infer<typeof StoreSchema>
export type AccessControlConfig = Infer<typeof AccessControlSchema>
export type LimitsConfig = Infer<typeof LimitsSchema>
export type TimeoutsConfig = Infer<typeof TimeoutsSchema>
export type RateLimitsConfig = Infer<typeof RateLimitsSchema>

