/**
 * Outbound SSRF guard for every URL an operator's config can steer Weir towards (identity
 * provider, upstream base URLs, OTLP collectors, the token exchange).
 *
 * Two checks, because Node only calls a socket's `lookup` for names, never for IP literals:
 *   - the connector (`guardedConnector`, used by every undici pool/agent here) and the node:http
 *     agent (`guardedHttpAgent`) refuse a literal destination before dialling it;
 *   - the lookup (`guardedLookup`) refuses metadata names before resolving, and refuses the
 *     connection when ANY resolved address is blocked; it then pins the socket to the first IPv4
 *     answer (else the first answer), so a DNS answer cannot change between check and connect.
 * What is blocked is decided in one place, lib/net/ranges.ts: metadata/link-local always;
 * loopback and unspecified unless CLAUDE_GATEWAY_ALLOW_LOOPBACK is set; IPv4 carried in mapped,
 * compatible, NAT64 and 6to4 IPv6 forms is judged as that IPv4 address. Private ranges are allowed.
 * TLS still verifies the certificate against the original host name. Redirects are never
 * followed by the helpers here.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { Agent as HttpAgent, AgentOptions as HttpAgentOptions } from 'node:http'
import { isIP, type Socket } from 'node:net'
import { Agent, buildConnector, fetch, type Dispatcher } from 'undici'
import { parseAddr } from './cidr.js'
import { blockedReason, METADATA_NAMES } from './ranges.js'

export { blockedReason } from './ranges.js'

/** Error code used for refused destinations, as the reference spells it. */
export const SSRF_CODE = 'ECONNREFUSED_SSRF'

/** True when `CLAUDE_GATEWAY_ALLOW_LOOPBACK` is set to anything non-empty. */
export function loopbackAllowed (env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CLAUDE_GATEWAY_ALLOW_LOOPBACK
  return v !== undefined && v !== ''
}

/** Is this host name one of the well-known metadata names, or a literal blocked address? */
export function blockedHostName (host: string, allowLoopback: boolean): string | null {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '')
  if (METADATA_NAMES.has(h)) return 'cloud metadata host'
  const a = parseAddr(h)
  if (a !== null) return blockedReason(a, allowLoopback)
  if (isIP(h) !== 0) return 'unparseable address'
  return null
}

export function ssrfError (host: string, ip: string | undefined, reason: string): NodeJS.ErrnoException {
  const err = new Error(`${SSRF_CODE}: blocked (${reason}): ${host}${ip !== undefined ? ` → ${ip}` : ''}`) as NodeJS.ErrnoException
  err.code = SSRF_CODE
  return err
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
/** The resolver the lookup asks (dns.lookup with `all: true`); replaceable in tests. */
export type Resolver = (host: string, cb: (err: NodeJS.ErrnoException | null, addrs: LookupAddress[]) => void) => void
const systemResolver: Resolver = (host, cb) => { dnsLookup(host, { all: true, verbatim: true }, cb) }

/** A `lookup` for net/tls.connect that refuses blocked destinations and pins to one address. */
export function guardedLookup (allowLoopback: boolean, resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean } | number | undefined, cb: LookupCb): void => {
    const named = blockedHostName(hostname, allowLoopback)
    if (named !== null) { cb(ssrfError(hostname, undefined, named), ''); return }
    resolve(hostname, (err, addrs) => {
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

/**
 * An undici connector that checks a literal destination itself (the lookup never sees one) and
 * resolves names through `guardedLookup`.
 */
export function guardedConnector (opts: { allowLoopback: boolean, ca?: string, timeout?: number, resolve?: Resolver }): buildConnector.connector {
  const inner = buildConnector({
    lookup: guardedLookup(opts.allowLoopback, opts.resolve) as never,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    timeout: opts.timeout ?? 10_000,
  })
  return (o, cb) => {
    const reason = o.socketPath != null ? null : blockedHostName(o.hostname, opts.allowLoopback)
    if (reason !== null) { cb(ssrfError(o.hostname, undefined, reason), null); return }
    inner(o, cb)
  }
}

/**
 * A node:http(s) agent for libraries that take one (the OTLP metrics exporter): the same checks
 * as `guardedConnector`, literal and resolved.
 */
export function guardedHttpAgent (AgentClass: new (o: HttpAgentOptions) => HttpAgent, allowLoopback: boolean, options: HttpAgentOptions = {}): HttpAgent {
  const agent = new AgentClass({ ...options, lookup: guardedLookup(allowLoopback) as never })
  const a = agent as unknown as { createConnection: (o: { host?: string }, cb: (err: Error | null, s?: Socket) => void) => Socket | undefined }
  const create = a.createConnection.bind(agent)
  a.createConnection = (o, cb) => {
    const reason = blockedHostName(o.host ?? 'localhost', allowLoopback)
    if (reason !== null) { process.nextTick(cb, ssrfError(o.host ?? '', undefined, reason)); return undefined }
    return create(o, cb)
  }
  return agent
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
    connect: guardedConnector({ allowLoopback: allow, ...(opts.ca !== undefined ? { ca: opts.ca } : {}), timeout: opts.connectTimeout ?? 10_000 }),
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

/**
 * A `guardedFetch` answer's body as text, read as it arrives and refused (the stream cancelled)
 * once it passes `maxBytes`: a hostile or broken endpoint cannot make the gateway hold more.
 */
export async function boundedText (res: Response, maxBytes: number, what = 'answer'): Promise<string> {
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let n = 0
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length
    if (n > maxBytes) { await res.body.cancel().catch(() => {}); throw new Error(`${what} is too large (over ${maxBytes} bytes)`) }
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}
