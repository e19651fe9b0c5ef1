/**
 * `provider: anthropic` — the Anthropic API (or any Messages-API-compatible endpoint at
 * `base_url`). Pass-through: the client's body goes out byte for byte (unless the model id or
 * request tags must change) and the SSE reply comes back untouched.
 *
 * Each worker keeps one keep-alive pool per upstream. Connections go through the SSRF guard
 * (loopback only with CLAUDE_GATEWAY_ALLOW_LOOPBACK) or, when HTTPS_PROXY/HTTP_PROXY applies to the
 * host, through that proxy. `timeouts.upstream_ttfb_ms` bounds the wait for response headers.
 * With workload identity federation (`auth.federation_rule_id`…) the bearer comes from a token
 * exchange (lib/cloud/anthropic-wif.ts), is refreshed before expiry, and a 401 drops it.
 */
import { Pool, ProxyAgent } from 'undici'
import { federationBearer, type FederationConfig } from '../../cloud/anthropic-wif.js'
import type { AnthropicUpstream } from '../../config/schema.js'
import { guardedConnector, loopbackAllowed } from '../../net/ssrf.js'
import { proxyFor } from '../../net/proxy-env.js'
import { addBetas, identityHeaderValue } from '../headers.js'
import { rewriteBody } from '../json-scan.js'
import { CloudSender } from './sender.js'
import type { Outgoing, Sender, Upstream, UpstreamCall } from './types.js'

/** Beta value the Messages API expects alongside OAuth bearer credentials. */
export const OAUTH_BETA = 'oauth-2025-04-20'
const DEFAULT_BASE = 'https://api.anthropic.com'

export interface PoolOptions {
  /** `timeouts.upstream_ttfb_ms`: time to response headers. */
  readonly ttfbMs: number
  readonly env?: NodeJS.ProcessEnv
  /** `load_test_mode`: every upstream answers from this in-process sender instead of a pool. */
  readonly loadTest?: Sender
}

/** A keep-alive connection pool for `base`, SSRF-guarded, or a proxy agent when the env says so. */
export function upstreamDispatcher (base: URL, o: PoolOptions): Sender {
  if (o.loadTest !== undefined) return o.loadTest
  const env = o.env ?? process.env
  const timeouts = { headersTimeout: o.ttfbMs, bodyTimeout: 10 * 60_000 }
  const proxy = proxyFor(base, env)
  if (proxy !== null) return new ProxyAgent({ uri: proxy, ...timeouts })
  return new Pool(base.origin, {
    ...timeouts,
    connections: 1024,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: guardedConnector({ allowLoopback: loopbackAllowed(env), timeout: 10_000 }),
  })
}

/** Path prefix of a base URL (`https://proxy.internal/anthropic` → `/anthropic`). */
export function basePath (base: URL): string {
  return base.pathname.replace(/\/+$/, '')
}

export function anthropicUpstream (cfg: AnthropicUpstream, o: PoolOptions): Upstream {
  const base = new URL(cfg.base_url ?? DEFAULT_BASE)
  const prefix = basePath(base)
  const auth = cfg.auth as { api_key?: string, oauth_token?: string, federation_rule_id?: string }
  const identity = cfg.forward_user_identity === true
  // workload identity federation: a short-lived bearer from the token exchange (lib/cloud/anthropic-wif.ts)
  const wif = auth.federation_rule_id !== undefined ? federationBearer(cfg.auth as FederationConfig, base, `upstream ${cfg.name}`, o.env) : null
  const pool = upstreamDispatcher(base, o)
  const dispatcher: Sender = wif === null ? pool : new CloudSender(pool, cfg.name, { onAuthFailure: () => { wif.invalidate() } })
  const extra: Record<string, string> = cfg.headers ?? {}
  const extraKeys = Object.keys(extra)
  // The request paths, built once (a query string is the only per-request part).
  const messagesPath = prefix + '/v1/messages'
  const countPath = prefix + '/v1/messages/count_tokens'
  return {
    name: cfg.name,
    provider: 'anthropic',
    sanitizeErrors: false,
    needsPings: false,
    dispatcher,
    ...(wif !== null ? { invalidateCredentials: () => { wif.invalidate() } } : {}),
    prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
      // This attempt's own header object, completed in place (no copy): the same keys in the same
      // order as `{ ...call.headers, ...extra }`, hence the same request bytes.
      const headers = call.headers
      for (let i = 0; i < extraKeys.length; i++) { const k = extraKeys[i] as string; headers[k] = extra[k] as string }
      if (auth.api_key !== undefined) {
        headers['x-api-key'] = auth.api_key
      } else if (auth.oauth_token !== undefined || wif !== null) {
        headers['anthropic-beta'] = addBetas(headers['anthropic-beta'], [OAUTH_BETA])
        if (auth.oauth_token !== undefined) headers.authorization = `Bearer ${auth.oauth_token}`
      }
      // Identity headers describe a signed-in developer; a customer-routed token's subject is not one.
      if (identity && call.principal.cri === undefined) {
        const p = call.principal
        headers['x-claude-gateway-user-id'] = identityHeaderValue(p.sub)
        if (p.email !== undefined && p.email !== '') {
          headers['x-claude-gateway-user-email'] = identityHeaderValue(p.email)
          headers['x-litellm-end-user-id'] = identityHeaderValue(p.email)
        }
      }
      const out: Outgoing = {
        origin: base.origin,
        path: (call.endpoint === 'count_tokens' ? countPath : messagesPath) + (call.query === '' ? '' : `?${call.query}`),
        headers,
        body: call.rewriteModel || call.stripTags
          ? rewriteBody(call.body, call.scan, { model: call.rewriteModel ? call.model : undefined, stripTags: call.stripTags })
          : call.body,
      }
      if (wif === null) return out
      const t = wif.peek()
      if (t !== null) { headers.authorization = `Bearer ${t}`; return out }
      return wif.get().then((fresh) => { headers.authorization = `Bearer ${fresh}`; return out })
    },
    close: async () => { await dispatcher.close() },
  }
}
