/**
 * Weir as an OpenID Connect relying party: the authorization request, the code exchange, refresh,
 * userinfo, token revocation at the IdP, and id_token validation.
 *
 * id_tokens are checked with jose against the IdP's JWKS (fetched through the SSRF guard, cached,
 * refetched when an unknown `kid` shows up): signature with `id_token_signed_response_alg` (RS256
 * by default), `iss` equal to the discovered issuer, `aud` containing the client id, `azp` (when
 * present, or when `aud` lists several parties) equal to the client id or one of
 * `additional_authorized_parties`, `exp`/`iat`/`nbf` within `clock_skew_seconds`, and the `nonce`
 * sent with the authorization request. An `iss` on the callback (RFC 9207) must match too.
 *
 * Failures are typed (lib/auth/errors.ts): an IdP `invalid_grant` is `IdpRefused`; anything else
 * the IdP or the network does wrong, and any validation failure, is `IdpUnavailable`.
 */
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify } from 'jose'
import type { OidcMetadata } from './discovery.js'
import type { OidcConfig } from '../config/schema/oidc.js'
import { ClientAuth } from './client-auth.js'
import type { Claims } from './claims.js'
import { IdpRefused, IdpUnavailable } from './errors.js'
import { IdpHttp, type IdpResponse } from './idp-http.js'

/** The parts of a token response Weir uses. */
export interface TokenSet {
  access_token?: string
  id_token?: string
  refresh_token?: string
}

export class OidcClient {
  readonly http: IdpHttp
  readonly auth: ClientAuth
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>
  private readonly scope: string

  constructor (readonly cfg: OidcConfig, readonly md: OidcMetadata, env: NodeJS.ProcessEnv = process.env) {
    this.http = new IdpHttp({ ca_cert_pem: cfg.ca_cert_pem, use_proxy: cfg.use_proxy }, env)
    this.auth = new ClientAuth(cfg, md.token_endpoint_auth_methods_supported, md.token_endpoint)
    this.jwks = createRemoteJWKSet(new URL(md.jwks_uri), { timeoutDuration: 10_000, [customFetch]: this.http.fetch as never })
    this.scope = [...new Set(cfg.scopes)].join(' ')
  }

  /** The IdP URL the browser is sent to. */
  authorizationUrl (p: { redirectUri: string, state: string, nonce: string, codeChallenge?: string | undefined }): string {
    const u = new URL(this.md.authorization_endpoint)
    const q = u.searchParams
    q.set('client_id', this.cfg.client_id)
    q.set('response_type', 'code')
    for (const [k, v] of Object.entries(this.cfg.extra_auth_params)) q.set(k, v)
    q.set('redirect_uri', p.redirectUri)
    q.set('scope', this.scope)
    q.set('state', p.state)
    q.set('nonce', p.nonce)
    if (p.codeChallenge !== undefined) { q.set('code_challenge', p.codeChallenge); q.set('code_challenge_method', 'S256') }
    q.set('response_mode', 'query')
    return u.toString()
  }

  /** POST to the token endpoint with client authentication. */
  private async tokenRequest (form: URLSearchParams): Promise<TokenSet> {
    const headers = await this.auth.apply(form)
    const res = await this.http.request(this.md.token_endpoint, { headers, form })
    return tokenSetFrom(res)
  }

  /** Exchange an authorization code. `iss` is the callback's RFC 9207 parameter when present. */
  async exchangeCode (p: { code: string, redirectUri: string, verifier?: string | undefined, iss?: string | undefined }): Promise<TokenSet> {
    if (p.iss !== undefined && p.iss !== this.md.issuer) throw new IdpUnavailable(`the callback's iss ${p.iss} is not the configured issuer`)
    if (p.iss === undefined && this.md.authorization_response_iss_parameter_supported === true) {
      throw new IdpUnavailable('the IdP announces RFC 9207 but its callback carried no iss parameter')
    }
    const form = new URLSearchParams({ grant_type: 'authorization_code', code: p.code, redirect_uri: p.redirectUri })
    if (p.verifier !== undefined) form.set('code_verifier', p.verifier)
    return await this.tokenRequest(form)
  }

  /** Renew with the IdP's refresh token (`scope` too with `scope_on_refresh`). */
  async refresh (refreshToken: string): Promise<TokenSet> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken })
    if (this.cfg.scope_on_refresh) form.set('scope', this.scope)
    return await this.tokenRequest(form)
  }

  /** Validate an id_token; `nonce` is checked when given (sign-in), not on refresh. */
  async verifyIdToken (idToken: string, nonce?: string): Promise<Claims> {
    let payload: Claims
    try {
      ({ payload } = await jwtVerify(idToken, this.jwks, {
        issuer: this.md.issuer,
        audience: this.cfg.client_id,
        algorithms: [this.cfg.id_token_signed_response_alg ?? 'RS256'],
        clockTolerance: this.cfg.clock_skew_seconds ?? 0,
        requiredClaims: ['iat', 'exp', 'sub'],
      }))
    } catch (err) {
      const why = err instanceof joseErrors.JOSEError ? `${err.code}: ${err.message}` : (err as Error).message
      throw new IdpUnavailable(`id_token rejected: ${why}`)
    }
    const parties = [this.cfg.client_id, ...(this.cfg.additional_authorized_parties ?? [])]
    if (payload.azp !== undefined || (Array.isArray(payload.aud) && payload.aud.length > 1)) {
      if (typeof payload.azp !== 'string' || !parties.includes(payload.azp)) throw new IdpUnavailable('id_token rejected: azp is missing or not an authorized party')
    }
    if (nonce !== undefined && payload.nonce !== nonce) throw new IdpUnavailable('id_token rejected: nonce mismatch')
    return payload
  }

  /** The userinfo claims for an access token. */
  async userinfo (accessToken: string): Promise<Claims> {
    const url = this.md.userinfo_endpoint
    if (url === undefined) throw new IdpUnavailable('the IdP has no userinfo endpoint')
    const res = await this.http.request(url, { headers: { authorization: `Bearer ${accessToken}` } })
    if (res.status !== 200 || res.json === null) throw new IdpUnavailable(`userinfo answered HTTP ${res.status}`)
    return res.json
  }

  /** Revoke a token at the IdP (RFC 7009). Returns false when the IdP has no revocation endpoint. */
  async revoke (token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
    const url = this.md.revocation_endpoint
    if (url === undefined) return false
    const form = new URLSearchParams({ token, token_type_hint: hint })
    const headers = await this.auth.apply(form)
    const res = await this.http.request(url, { headers, form })
    if (res.status !== 200) throw new IdpUnavailable(`revocation answered HTTP ${res.status}`)
    return true
  }

  async close (): Promise<void> { await this.http.close() }
}

/** Read a token response, turning OAuth errors into typed failures. */
function tokenSetFrom (res: IdpResponse): TokenSet {
  const j = res.json
  if (res.status === 200 && j !== null) {
    const s = (k: string): string | undefined => typeof j[k] === 'string' && j[k] !== '' ? j[k] as string : undefined
    return { access_token: s('access_token'), id_token: s('id_token'), refresh_token: s('refresh_token') }
  }
  const error = typeof j?.error === 'string' ? j.error : undefined
  const desc = typeof j?.error_description === 'string' ? `: ${j.error_description}` : ''
  if (error === 'invalid_grant') throw new IdpRefused(`the IdP answered invalid_grant${desc}`)
  throw new IdpUnavailable(error !== undefined ? `the IdP token endpoint answered ${error}${desc} (HTTP ${res.status})` : `the IdP token endpoint answered HTTP ${res.status}`)
}
