/**
 * Boot-time checks on URLs an operator puts in gateway.yaml (upstream `base_url`, the IdP issuer,
 * telemetry collectors, CRI endpoints). They refuse what is plainly a server-side request forgery
 * target before anything connects:
 *
 * - anything but `http:` / `https:`;
 * - cloud metadata services, by name (`metadata.google.internal`, `metadata.goog`, `metadata`,
 *   `instance-data`, `instance-data.ec2.internal`) or by literal address (link-local
 *   169.254.0.0/16 and fe80::/10, 100.100.100.200, 168.63.129.16, 192.0.0.192, 0.0.0.0/8, the
 *   AWS/GCP/Azure IPv6 metadata addresses such as fd00:ec2::254), including IPv4 addresses embedded
 *   in IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms (the ranges live in
 *   lib/net/ranges.ts, shared with the connect-time guard);
 * - for the URLs marked `loopback: 'env'`, a literal loopback or unspecified address (127.0.0.0/8,
 *   ::1, 0.0.0.0, ::, and the same carried in IPv6 forms) unless `CLAUDE_GATEWAY_ALLOW_LOOPBACK` is
 *   non-empty. The name `localhost` passes here; the runtime SSRF guard in `lib/net/` decides at
 *   connect time. Under `loopback: 'allow'` (upstream base URLs) a literal loopback passes here and
 *   the connect-time guard applies the same variable.
 *
 * WHATWG URL parsing already turns every IPv4 spelling (`2130706433`, `0177.0.0.1`, `0x7f.1`,
 * `127.1`) into dotted form, and IPv6 into its compressed form, before these checks see the host.
 *
 * The environment is read through `withEnv()`, which `load.ts` wraps around validation, so tests
 * can pass their own environment. Validation is synchronous, so the module-level slot is safe.
 */
import { parseAddr } from '../../net/cidr.js'
import { classifyAddr, METADATA_NAMES } from '../../net/ranges.js'

let activeEnv: NodeJS.ProcessEnv = process.env

/** Run `fn` with `env` as the environment the schema's checks consult. */
export function withEnv<T> (env: NodeJS.ProcessEnv, fn: () => T): T {
  const saved = activeEnv
  activeEnv = env
  try { return fn() } finally { activeEnv = saved }
}

/** The environment the schema is being validated against (see `withEnv`). */
export const schemaEnv = (): NodeJS.ProcessEnv => activeEnv

/** True when `CLAUDE_GATEWAY_ALLOW_LOOPBACK` is set to a non-empty value. */
export const loopbackAllowed = (): boolean => (activeEnv.CLAUDE_GATEWAY_ALLOW_LOOPBACK ?? '') !== ''

/** Host names that count as loopback for `http://` on collectors and public URLs. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1', '[::1]'])

/** Normalised host of a URL: lowercase, no brackets, no trailing dot. */
export function urlHost (u: URL): string {
  return u.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
}

/** True when the URL's host is a literal loopback/unspecified address or the name `localhost`. */
export function isLoopbackUrl (raw: string): boolean {
  let u: URL
  try { u = new URL(raw) } catch { return false }
  const host = urlHost(u)
  if (host === 'localhost') return true
  const a = parseAddr(host)
  return a !== null && classifyAddr(a) === 'loopback'
}

/** How a check treats a literal loopback address. */
export type LoopbackRule = 'allow' | 'env'

/**
 * Why `raw` may not be used as an operator URL, or null when it may. Under `loopback: 'env'` a literal loopback address needs CLAUDE_GATEWAY_ALLOW_LOOPBACK.
 */
export function urlProblem (raw: string, loopback: LoopbackRule): string | null {
  let u: URL
  try { u = new URL(raw) } catch { return 'must be an absolute http(s) URL' }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http(s) URL'
  const host = urlHost(u)
  if (host.split('.').includes('')) return 'has an invalid host name'
  if (METADATA_NAMES.has(host)) return 'targets a cloud metadata endpoint'
  const a = parseAddr(host)
  if (a === null) return null
  const c = classifyAddr(a)
  if (c === 'metadata') return 'targets a cloud metadata endpoint'
  if (c === 'loopback') {
    if (loopback === 'allow' || loopbackAllowed()) return null
    return 'is a literal loopback address, refused unless CLAUDE_GATEWAY_ALLOW_LOOPBACK is set'
  }
  return null
}

/** `https://`, or `http://` only to a loopback host name or address. */
export function httpsOrLoopback (raw: string): boolean {
  try {
    const u = new URL(raw)
    return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))
  } catch { return false }
}
