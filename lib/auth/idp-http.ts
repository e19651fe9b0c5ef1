/**
 * HTTP to the identity provider: token, userinfo, revocation and JWKS requests.
 *
 * Every request goes through the SSRF guard (lib/net/ssrf.ts: a loopback IdP only with
 * CLAUDE_GATEWAY_ALLOW_LOOPBACK, never a metadata address), trusts `oidc.ca_cert_pem` instead of
 * the system store when set, follows no redirect and gives up after 10 s.
 *
 * With `oidc.use_proxy: true` requests for hosts outside NO_PROXY go through HTTPS_PROXY /
 * HTTP_PROXY as a CONNECT tunnel. The proxy resolves the name then, so the guard checks the
 * destination's addresses itself just before each proxied request.
 *
 * With CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME on as well (networks where only the proxy can
 * resolve outside names), a proxied https hostname is handed to the proxy unresolved (the proxy's
 * allowlist stands in for the guard; an IP literal is still checked), and a proxied http:// URL is
 * refused: with no certificate to check, whatever the proxy reached could answer as the IdP.
 */
import { isIP } from 'node:net'
import { Agent, ProxyAgent, fetch, type Dispatcher } from 'undici'
import { connectByHostname } from '../config/warnings.js'
import { proxyFor } from '../net/proxy-env.js'
import { guardedAgent, guardedLookup, loopbackAllowed } from '../net/ssrf.js'
import { IdpUnavailable } from './errors.js'

const TIMEOUT_MS = 10_000

/** An IdP response body: parsed JSON when it was JSON, else null. */
export interface IdpResponse { status: number, json: Record<string, unknown> | null, text: string }

export interface IdpHttpOptions {
  ca_cert_pem?: string | undefined
  use_proxy?: boolean | undefined
}

export class IdpHttp {
  private readonly direct: Agent
  private readonly proxies = new Map<string, ProxyAgent>()
  private readonly allowLoopback: boolean
  private readonly byHostname: boolean

  constructor (private readonly opts: IdpHttpOptions, private readonly env: NodeJS.ProcessEnv = process.env) {
    this.allowLoopback = loopbackAllowed(env)
    this.byHostname = connectByHostname(env)
    this.direct = guardedAgent({ allowLoopback: this.allowLoopback, ...(opts.ca_cert_pem !== undefined ? { ca: opts.ca_cert_pem } : {}) })
  }

  /** The dispatcher for `url`, after checking a proxied destination against the guard. */
  private async dispatcherFor (url: URL): Promise<Dispatcher> {
    if (this.opts.use_proxy !== true) return this.direct
    const proxy = proxyFor(url, this.env)
    if (proxy === null) return this.direct
    const host = url.hostname.replace(/^\[|\]$/g, '')
    if (this.byHostname && url.protocol !== 'https:') {
      throw new Error(`blocked ${url.protocol}// IdP endpoint through the proxy: with CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME on, proxied IdP URLs must be https (or list the host in NO_PROXY)`)
    }
    if (!this.byHostname || isIP(host) !== 0) {
      await new Promise<void>((resolve, reject) => {
        guardedLookup(this.allowLoopback)(host, { all: true }, (err) => { if (err !== null) reject(err); else resolve() })
      })
    }
    let agent = this.proxies.get(proxy)
    if (agent === undefined) {
      agent = new ProxyAgent({ uri: proxy, ...(this.opts.ca_cert_pem !== undefined ? { requestTls: { ca: this.opts.ca_cert_pem } } : {}) })
      this.proxies.set(proxy, agent)
    }
    return agent
  }

  /** A `fetch` bound to the guard (for jose's remote JWKS). */
  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input))
    const dispatcher = await this.dispatcherFor(url)
    return await fetch(url, { ...(init as object), redirect: 'manual', dispatcher, signal: init.signal ?? AbortSignal.timeout(TIMEOUT_MS) }) as unknown as Response
  }

  /** Send a request; transport failures become `IdpUnavailable`. */
  async request (url: string, init: { method?: string, headers?: Record<string, string>, form?: URLSearchParams }): Promise<IdpResponse> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers }
    let body: string | undefined
    if (init.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = init.form.toString()
    }
    let res: Response
    let text: string
    try {
      res = await this.fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body } : {}) })
      text = await res.text()
    } catch (err) {
      const e = err as { message?: string, cause?: { message?: string, code?: string }, code?: string }
      const why = e.cause?.message ?? e.message ?? String(err)
      throw new IdpUnavailable(`${new URL(url).host} did not answer: ${why}`)
    }
    let json: Record<string, unknown> | null = null
    if (text !== '') {
      try {
        const v: unknown = JSON.parse(text)
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>
      } catch { /* not JSON; the caller decides */ }
    }
    return { status: res.status, json, text }
  }

  async close (): Promise<void> {
    await this.direct.close().catch(() => undefined)
    for (const p of this.proxies.values()) await p.close().catch(() => undefined)
  }
}
