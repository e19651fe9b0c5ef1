/**
 * OpenID Connect discovery of `oidc.issuer`, done once by the primary at boot.
 *
 * Boot fails with a clear message when the document cannot be fetched or is unusable: a gateway
 * that cannot sign anyone in should not start taking traffic. The fetch goes through the SSRF
 * guard (a loopback issuer only with CLAUDE_GATEWAY_ALLOW_LOOPBACK), honours `oidc.ca_cert_pem`
 * and `oidc.use_proxy` (lib/auth/idp-http.ts), and every endpoint the document names must pass the
 * same host check.
 */
import { BootError } from '../errors.js'
import { blockedHostName, loopbackAllowed } from '../net/ssrf.js'
import { IdpHttp } from './idp-http.js'

/** The parts of the IdP's metadata Weir uses. */
export interface OidcMetadata {
  readonly issuer: string
  readonly authorization_endpoint: string
  readonly token_endpoint: string
  readonly jwks_uri: string
  readonly userinfo_endpoint?: string
  readonly end_session_endpoint?: string
  readonly revocation_endpoint?: string
  readonly token_endpoint_auth_methods_supported?: readonly string[]
  readonly scopes_supported?: readonly string[]
  readonly code_challenge_methods_supported?: readonly string[]
  readonly id_token_signing_alg_values_supported?: readonly string[]
  /** RFC 9207: the IdP puts `iss` on its authorization responses. */
  readonly authorization_response_iss_parameter_supported?: boolean
}

export interface DiscoveryInput {
  readonly issuer: string
  readonly discovery_url?: string | undefined
  readonly ca_cert_pem?: string | undefined
  /** Fetch through HTTPS_PROXY/HTTP_PROXY (honouring NO_PROXY). */
  readonly use_proxy?: boolean | undefined
}

const trimSlash = (s: string): string => s.replace(/\/+$/, '')

/** Fetch and check the discovery document. Throws `BootError` with one explanatory line. */
export async function discoverOidc (oidc: DiscoveryInput, env: NodeJS.ProcessEnv = process.env): Promise<OidcMetadata> {
  const allowLoopback = loopbackAllowed(env)
  const url = oidc.discovery_url ?? `${trimSlash(oidc.issuer)}/.well-known/openid-configuration`
  const fail = (why: string): never => { throw new BootError([`OIDC discovery failed for ${oidc.issuer} (${url}): ${why}`]) }

  const issuerHost = new URL(oidc.issuer).hostname
  const hostProblem = blockedHostName(issuerHost, allowLoopback)
  if (hostProblem !== null) {
    fail(hostProblem === 'loopback'
      ? 'the issuer is a loopback address; set CLAUDE_GATEWAY_ALLOW_LOOPBACK=1 to allow it (development only)'
      : `the issuer host is refused (${hostProblem})`)
  }

  const http = new IdpHttp({ ca_cert_pem: oidc.ca_cert_pem, use_proxy: oidc.use_proxy }, env)
  let doc: Record<string, unknown>
  try {
    const res = await http.fetch(url, { headers: { accept: 'application/json' } })
    if (res.status !== 200) fail(`HTTP ${res.status}`)
    doc = await res.json() as Record<string, unknown>
  } catch (err) {
    if (err instanceof BootError) throw err
    const e = err as { code?: string, message?: string, cause?: { code?: string, message?: string } }
    const reason = e.cause?.code === 'ECONNREFUSED_SSRF' || e.code === 'ECONNREFUSED_SSRF'
      ? (e.cause?.message ?? e.message ?? 'blocked') + (allowLoopback ? '' : ' (set CLAUDE_GATEWAY_ALLOW_LOOPBACK=1 for a loopback IdP in development)')
      : e.cause?.message ?? e.message ?? String(err)
    return fail(reason)
  } finally {
    await http.close()
  }

  if (typeof doc !== 'object' || doc === null) fail('the document is not a JSON object')
  for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
    if (typeof doc[k] !== 'string' || doc[k] === '') fail(`the document has no ${k}`)
  }
  if (trimSlash(doc.issuer as string) !== trimSlash(oidc.issuer)) {
    fail(`the document's issuer ${String(doc.issuer)} does not match the configured issuer`)
  }
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
    const v = doc[k]
    if (v === undefined) continue
    if (typeof v !== 'string') fail(`${k} is not a string`)
    let u: URL
    try { u = new URL(v as string) } catch { return fail(`${k} is not a URL`) }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') fail(`${k} is not an http(s) URL`)
    const blocked = blockedHostName(u.hostname, allowLoopback)
    if (blocked !== null) fail(`the document names a blocked endpoint: ${v as string} (${blocked})`)
  }
  const strings = (k: string): readonly string[] | undefined =>
    Array.isArray(doc[k]) ? (doc[k] as unknown[]).filter((x): x is string => typeof x === 'string') : undefined
  const opt = (k: string): string | undefined => typeof doc[k] === 'string' ? doc[k] as string : undefined
  const md: Record<string, unknown> = {
    issuer: doc.issuer,
    authorization_endpoint: doc.authorization_endpoint,
    token_endpoint: doc.token_endpoint,
    jwks_uri: doc.jwks_uri,
    userinfo_endpoint: opt('userinfo_endpoint'),
    end_session_endpoint: opt('end_session_endpoint'),
    revocation_endpoint: opt('revocation_endpoint'),
    token_endpoint_auth_methods_supported: strings('token_endpoint_auth_methods_supported'),
    scopes_supported: strings('scopes_supported'),
    code_challenge_methods_supported: strings('code_challenge_methods_supported'),
    id_token_signing_alg_values_supported: strings('id_token_signing_alg_values_supported'),
    authorization_response_iss_parameter_supported: typeof doc.authorization_response_iss_parameter_supported === 'boolean'
      ? doc.authorization_response_iss_parameter_supported
      : undefined,
  }
  for (const k of Object.keys(md)) if (md[k] === undefined) delete md[k]
  return md as unknown as OidcMetadata
}
