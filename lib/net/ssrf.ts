/**
 * Outbound SSRF guard for every URL an operator's config can steer Weir towards (identity
 * provider, upstream base URLs, OTLP collectors).
 *
 * The check runs inside the socket's DNS lookup, so it applies to the address actually dialled and
 * a DNS answer cannot change between the check and the connect (no rebinding window):
 *   - cloud metadata names (`metadata.google.internal`, `metadata.goog`, `metadata`) are refused
 *     before resolving;
 *   - every resolved address is classified; if any is link-local (169.254/16, fe80::/10), a known
 *     metadata address (100.100.100.200, fd00:ec2::254) or — unless CLAUDE_GATEWAY_ALLOW_LOOPBACK is
 *     set — loopback/unspecified, the connection is refused;
 *   - private RFC 1918 / ULA ranges are allowed (gateways usually talk to internal services);
 *   - the connection is pinned to the first IPv4 answer (else the first answer). TLS still
 *     verifies the certificate against the original host name.
 * Redirects are never followed by the helpers here.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import { Agent, fetch, type Dispatcher } from 'undici'
import { CidrList, parseAddr, type Addr } from './cidr.js'

const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata'])
const LINK_LOCAL = new CidrList(['169.254.0.0/16', 'fe80::/10', '100.100.100.200/32', 'fd00:ec2::254/128'])
const LOOPBACK = new CidrList(['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128'])

/** Error code used for refused destinations, as the reference spells it. */
export const SSRF_CODE = 'ECONNREFUSED_SSRF'

/** True when `CLAUDE_GATEWAY_ALLOW_LOOPBACK` is set to anything non-empty. */
export function loopbackAllowed (env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CLAUDE_GATEWAY_ALLOW_LOOPBACK
  return v !== undefined && v !== ''
}

/** Why `addr` may not be dialled, or null when it may. */
export function blockedReason (addr: Addr, allowLoopback: boolean): string | null {
  if (LINK_LOCAL.has(addr)) return 'cloud metadata / link-local'
  if (!allowLoopback && LOOPBACK.has(addr)) return 'loopback'
  return null
}

/** Is this host name one of the well-known metadata names (or a literal blocked address)? */
export function blockedHostName (host: string, allowLoopback: boolean): string | null {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '')
  if (METADATA_NAMES.has(h)) return 'cloud metadata host'
  if (isIP(h) !== 0) {
    const a = parseAddr(h)
    if (a !== null) return blockedReason(a, allowLoopback)
  }
  return null
}

function ssrfError (host: string, ip: string | undefined, reason: string): NodeJS.ErrnoException {
  const err = new Error(`${SSRF_CODE}: blocked (${reason}): ${host}${ip !== undefined ? ` → ${ip}` : ''}`) as NodeJS.ErrnoException
  err.code = SSRF_CODE
  return err
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A `lookup` for net/tls.connect that refuses blocked destinations and pins to one address. */
export function guardedLookup (allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean } | number | undefined, cb: LookupCb): void => {
    const named = blockedHostName(hostname, allowLoopback)
    if (named !== null) { cb(ssrfError(hostname, undefined, named), ''); return }
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addrs) => {
      if (err !== null) { cb(err, ''); return }
      for (const a of addrs) {
        const p = parseAddr(a.address)
        const reason = p === null ? 'unparseable address' : blockedReason(p, allowLoopback)
        if (reason !== null) { cb(ssrfError(hostname, a.address, reason), ''); return }
      }
      const pick = addrs.find((a) => a.family === 4) ?? addrs[0]
      if (pick === undefined) { cb(ssrfError(hostname, undefined, 'no address'), ''); return }
      const wantAll = typeof options === 'object' && options?.all === true
      if (wantAll) cb(null, [pick])
      else cb(null, pick.address, pick.family)
    })
  }
}

export interface GuardOptions {
  /** Allow loopback destinations (defaults to the CLAUDE_GATEWAY_ALLOW_LOOPBACK env var). */
  allowLoopback?: boolean
  /** PEM CA bundle that replaces the system trust store (e.g. `oidc.ca_cert_pem`). */
  ca?: string
  /** Connect timeout in ms (default 10 s). */
  connectTimeout?: number
  /** Keep-alive connections per origin (default undici's: unlimited). */
  connections?: number
}

/** An undici Agent whose every connection goes through the guard. */
export function guardedAgent (opts: GuardOptions = {}): Agent {
  const allow = opts.allowLoopback ?? loopbackAllowed()
  return new Agent({
    connect: {
      lookup: guardedLookup(allow) as never,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      timeout: opts.connectTimeout ?? 10_000,
    },
    ...(opts.connections !== undefined ? { connections: opts.connections } : {}),
  })
}

/**
 * `fetch` through a guarded dispatcher, never following redirects (a 3xx is returned as is).
 * `timeoutMs` bounds the whole exchange (default 10 s).
 */
export async function guardedFetch (url: string, init: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array, timeoutMs?: number, dispatcher: Dispatcher }): Promise<Response> {
  const u = new URL(url)
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw ssrfError(u.host, undefined, `scheme ${u.protocol}`)
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.headers !== undefined ? { headers: init.headers } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
    redirect: 'manual',
    dispatcher: init.dispatcher,
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  })
  return res as unknown as Response
}
