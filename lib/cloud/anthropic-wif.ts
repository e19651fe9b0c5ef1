/**
 * Workload identity federation for an `anthropic` upstream: the gateway trades a JWT its platform
 * issues it (a Kubernetes projected service-account token, a GitHub OIDC token, …) for a
 * short-lived Anthropic API bearer, instead of holding a long-lived key.
 *
 * The exchange is the RFC 7523 jwt-bearer grant against `<base_url>/v1/oauth/token`, a JSON body
 * naming the federation rule and organisation (and, when set, the service account and workspace),
 * with the `oauth-2025-04-20` and `oidc-federation-2026-04-01` beta values. The token file is
 * re-read on every exchange (platforms rotate it). The bearer is refreshed in the background two
 * minutes before expiry and fetched anew when less than thirty seconds remain; a 401 from the
 * upstream drops it. Assertions go only to https endpoints (loopback http for local testing).
 */
import { readFileSync } from 'node:fs'
import { ops, describeError } from '../log.js'
import { VERSION } from '../version.js'
import { cachedBearer, type BearerSource } from './bearer.js'
import { call, excerpt, json } from './http.js'

export const WIF_BETAS = ['oauth-2025-04-20', 'oidc-federation-2026-04-01'] as const
const MAX_ASSERTION = 16 * 1024

export interface FederationConfig {
  readonly federation_rule_id: string
  readonly organization_id: string
  readonly identity_token_file: string
  readonly service_account_id?: string | undefined
  readonly workspace_id?: string | undefined
}

function secureEndpoint (base: URL): void {
  if (base.protocol === 'https:') return
  const h = base.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (base.protocol === 'http:' && (h === 'localhost' || h === '127.0.0.1' || h === '::1')) return
  throw new Error(`refusing to send a workload identity token over ${base.protocol}//${base.host}: use https`)
}

export function federationBearer (cfg: FederationConfig, base: URL, label: string, env: NodeJS.ProcessEnv = process.env): BearerSource {
  return cachedBearer(async () => {
    secureEndpoint(base)
    let jwt: string
    try { jwt = readFileSync(cfg.identity_token_file, 'utf8').trim() } catch (err) {
      throw new Error(`${label}: cannot read identity_token_file ${cfg.identity_token_file}: ${describeError(err)}`)
    }
    if (jwt === '') throw new Error(`${label}: identity_token_file ${cfg.identity_token_file} is empty`)
    if (jwt.length > MAX_ASSERTION) throw new Error(`${label}: the identity token is ${Math.ceil(jwt.length / 1024)} KiB; the token endpoint accepts at most 16 KiB`)
    const body: Record<string, string> = {
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: jwt,
      federation_rule_id: cfg.federation_rule_id,
      organization_id: cfg.organization_id,
    }
    if (cfg.service_account_id !== undefined && cfg.service_account_id !== '') body.service_account_id = cfg.service_account_id
    if (cfg.workspace_id !== undefined && cfg.workspace_id !== '') body.workspace_id = cfg.workspace_id
    const url = `${base.origin}${base.pathname.replace(/\/+$/, '')}/v1/oauth/token`
    const r = await call(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'anthropic-beta': WIF_BETAS.join(','), 'user-agent': `weir/${VERSION} workload-identity` },
      body: JSON.stringify(body),
      timeoutMs: 10_000,
      env,
    })
    const rid = r.headers['request-id']
    if (r.status !== 200) {
      let why = excerpt(r.text)
      try { const j = JSON.parse(r.text) as Record<string, unknown>; why = [j.error, j.error_description].filter((x) => typeof x === 'string').join(': ') || why } catch {}
      throw new Error(`${label}: token exchange failed with ${r.status}${typeof rid === 'string' ? ` (request-id ${rid})` : ''}: ${why}`)
    }
    const j = json(r, `${label}: the token endpoint`)
    if (typeof j.access_token !== 'string' || j.access_token === '') throw new Error(`${label}: the token endpoint answered without an access_token`)
    if (typeof j.token_type === 'string' && j.token_type.toLowerCase() !== 'bearer') throw new Error(`${label}: the token endpoint answered token_type ${j.token_type}, not Bearer`)
    const ttl = Number(j.expires_in)
    if (!Number.isFinite(ttl) || ttl <= 0) throw new Error(`${label}: the token endpoint answered without expires_in`)
    return { value: j.access_token, expiresAt: Date.now() + ttl * 1000 }
  }, {
    refreshBeforeMs: 120_000,
    mandatoryMs: 30_000,
    onBackgroundError: (err) => { ops.warn(`${label}: workload identity refresh failed; still using the current bearer: ${describeError(err)}`) },
  })
}
