/**
 * Small HTTP calls to credential endpoints: AWS STS, the EC2 instance metadata service, the ECS
 * container credentials endpoint, Azure's token endpoints, Anthropic's token exchange.
 *
 * Only a call that names itself the credential source's own metadata endpoint (`metadata: true`:
 * EC2 instance metadata, the ECS/EKS container credentials endpoint, Azure managed identity) may
 * reach link-local and metadata addresses (169.254.169.254, 169.254.170.2, fd00:ec2::254): that is
 * exactly where those credentials come from. Every other call (STS, Entra ID, the Anthropic token
 * exchange) goes through the SSRF guard (lib/net/ssrf.ts) with loopback allowed: a metadata or
 * link-local destination — literal, named, or in a DNS answer — is refused with ECONNREFUSED_SSRF.
 * Loopback stays allowed because these endpoints come from the process environment (a local STS
 * emulator is normal) or from a base URL that config validation already checked.
 * The URLs never come from a client request. HTTPS targets honour HTTPS_PROXY/NO_PROXY like the
 * inference path; link-local and loopback targets are always reached directly. Bodies are capped at
 * 1 MiB.
 */
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici'
import { proxyFor } from '../net/proxy-env.js'
import { blockedHostName, guardedConnector } from '../net/ssrf.js'

const MAX_BODY = 1 << 20
const metadataDirect = new Agent({ keepAliveTimeout: 5_000, connect: { timeout: 5_000 } })
const guardedDirect = new Agent({ keepAliveTimeout: 5_000, connect: guardedConnector({ allowLoopback: true, timeout: 5_000 }) })
const proxies = new Map<string, ProxyAgent>()

export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT'
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Whole-call deadline (connect, headers and body), ms. */
  readonly timeoutMs: number
  readonly env?: NodeJS.ProcessEnv
  /** This is the configured credential source's own metadata endpoint: link-local allowed. */
  readonly metadata?: boolean
}

export interface CallResult {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
}

/** Thrown when the call did not finish in time; `timedOut` lets callers explain why. */
export class CallError extends Error {
  override name = 'CallError'
  constructor (message: string, readonly timedOut: boolean, opts?: { cause?: unknown }) { super(message, opts) }
}

function isLocalHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h.startsWith('127.') || h === '::1' || h.startsWith('169.254.') || h.startsWith('fd00:ec2:') || h === 'fd00:ec2::254' || h === 'fd00:ec2::23'
}

function dispatcherFor (url: URL, env: NodeJS.ProcessEnv, metadata: boolean): Dispatcher {
  const direct = metadata ? metadataDirect : guardedDirect
  if (isLocalHost(url.hostname)) return direct
  const p = proxyFor(url, env)
  if (p === null) return direct
  let a = proxies.get(p)
  if (a === undefined) { a = new ProxyAgent(p); proxies.set(p, a) }
  return a
}

/** One HTTP call with a hard deadline; the body is read as text (at most 1 MiB). */
export async function call (url: string, o: CallOptions): Promise<CallResult> {
  const u = new URL(url)
  const metadata = o.metadata === true
  // a literal or well-known metadata name is refused here too, also when a proxy would dial it
  const refused = metadata ? null : blockedHostName(u.hostname, true)
  if (refused !== null) throw new CallError(`${u.origin}${u.pathname}: ECONNREFUSED_SSRF: blocked (${refused}); only a credential source's own metadata endpoint may be reached there`, false)
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), o.timeoutMs)
  try {
    const res = await request(u, {
      method: o.method ?? 'GET',
      headers: o.headers,
      body: o.body,
      signal: ac.signal,
      dispatcher: dispatcherFor(u, o.env ?? process.env, metadata),
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    })
    const chunks: Buffer[] = []
    let n = 0
    for await (const c of res.body) {
      const b = c as Buffer
      if (n + b.length > MAX_BODY) { chunks.push(b.subarray(0, MAX_BODY - n)); n = MAX_BODY; res.body.destroy(); break }
      chunks.push(b)
      n += b.length
    }
    return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }
  } catch (err) {
    if (ac.signal.aborted) throw new CallError(`${u.origin}${u.pathname}: no answer within ${o.timeoutMs} ms`, true, { cause: err })
    const e = err as { code?: string, message?: string }
    const code = e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT'
    throw new CallError(`${u.origin}${u.pathname}: ${e.code !== undefined ? e.code + ' ' : ''}${e.message ?? String(err)}`, code, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

/** Parse a JSON body, with a message that names the endpoint when it is not JSON. */
export function json (r: CallResult, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(r.text) as unknown
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {}
  throw new Error(`${what} answered ${r.status} with a body that is not a JSON object`)
}

/** A short, single-line excerpt of an error body for logs (credentials endpoints never echo secrets back, but cap it anyway). */
export function excerpt (text: string, max = 300): string {
  const s = text.replace(/\s+/g, ' ').trim()
  return s.length > max ? s.slice(0, max) + '…' : s
}
