/**
 * Everything the sign-in routes of one worker share, built once from the frozen config and the
 * IdP metadata the primary discovered: the OIDC client, the grant store, the signing and sealing
 * keys, the browser cookie's name and attributes, and the two steps both the browser callback and
 * the refresh grant run — turning an IdP token response into a checked identity, and minting a
 * session token for it.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Config } from '../config/schema.js'
import type { OidcConfig } from '../config/schema/oidc.js'
import { baseUrl } from '../http/base-url.js'
import type { Req } from '../http/request.js'
import { clientIp } from '../http/router.js'
import { describeError, ops } from '../log.js'
import type { CidrList } from '../net/cidr.js'
import { linkFamily, principalSeen } from '../session/client.js'
import { canonicalSpelling, type Identity, type KeyRing, keyRing, mintToken, tokenId } from '../session/token.js'
import { kvIncr } from '../store/client.js'
import type { WorkerContext } from '../worker-context.js'
import { type Claims, identityFrom, wantsUserinfo } from './claims.js'
import type { OidcMetadata } from './discovery.js'
import { IdpUnavailable, PolicyDenied } from './errors.js'
import { GoogleGroups } from './google-groups.js'
import { Grants } from './grants.js'
import { OidcClient, type TokenSet } from './oidc.js'
import { type SealKey, sealKeys } from './seal.js'

/** A per-IP limit outcome. */
export interface Limit { limited: boolean, retryAfter: number }

export class SignIn {
  readonly cfg: OidcConfig
  readonly md: OidcMetadata
  readonly oidc: OidcClient
  readonly ring: KeyRing
  readonly keys: readonly SealKey[]
  readonly grants: Grants
  readonly groups: GoogleGroups | undefined
  /** `__Host-gw_dev` when the gateway is served over https, else `gw_dev`. */
  readonly cookieName: string
  readonly cookieAttrs: string
  /** Origins the /device form may hand off to (CSP form-action, after 'self'). */
  readonly formActionOrigins: string
  readonly loginNotice: string | undefined
  private readonly tls: boolean

  constructor (readonly config: Readonly<Config>, md: OidcMetadata, private readonly trusted: CidrList, env: NodeJS.ProcessEnv = process.env) {
    if (config.oidc === undefined) throw new TypeError('sign-in needs an oidc block')
    this.cfg = config.oidc
    this.md = md
    this.oidc = new OidcClient(this.cfg, md, env)
    this.ring = keyRing(config.session.jwt_secret)
    this.keys = sealKeys(config.session.jwt_secret)
    this.grants = new Grants(this.keys)
    this.groups = this.cfg.google_groups !== undefined ? new GoogleGroups(this.cfg.google_groups, env) : undefined
    this.tls = config.listen.tls !== undefined
    const secure = this.tls || (config.listen.public_url?.startsWith('https:') ?? false)
    this.cookieName = secure ? '__Host-gw_dev' : 'gw_dev'
    this.cookieAttrs = `Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
    const idpOrigin = new URL(md.authorization_endpoint).origin
    this.formActionOrigins = [...new Set([idpOrigin, ...this.cfg.form_action_origins])].join(' ')
    this.loginNotice = config.login_notice
  }

  /** `{base}`: public_url, or on a loopback listener the request's own origin. */
  base (rq: Req): string { return baseUrl(rq, this.config.listen.public_url, this.tls) }

  /** The client address (trusted-proxy aware), `unknown` when there is none. */
  ip (rq: Req): string { return clientIp(rq, this.trusted) || 'unknown' }

  /** Count one hit against a fixed-window per-IP limit kept in Postgres (shared by replicas). */
  async limit (name: string, ip: string, rule: { max: number, window_seconds: number }): Promise<Limit> {
    const c = await kvIncr(`rl:${name}:${ip}`, rule.window_seconds)
    const retryAfter = Math.max(1, Math.ceil((new Date(c.resetAt).getTime() - Date.now()) / 1000))
    return { limited: c.count > rule.max, retryAfter }
  }

  /**
   * Check an IdP token response and build the identity it vouches for. `nonce` is the sign-in's
   * (refreshes have none). A refresh without an id_token falls back to userinfo for the claims.
   */
  async identify (tokens: TokenSet, nonce: string | undefined): Promise<Identity> {
    let primary: Claims
    let extra: Claims | undefined
    if (tokens.id_token !== undefined) {
      primary = await this.oidc.verifyIdToken(tokens.id_token, nonce)
      if (tokens.access_token !== undefined && wantsUserinfo(primary, this.cfg)) {
        extra = await this.oidc.userinfo(tokens.access_token)
        if (typeof extra.sub !== 'string' || extra.sub !== primary.sub) throw new PolicyDenied('userinfo sub missing or does not match id_token sub')
      }
    } else if (nonce === undefined && tokens.access_token !== undefined) {
      primary = await this.oidc.userinfo(tokens.access_token)
    } else {
      throw new IdpUnavailable(nonce !== undefined ? 'the IdP returned no id_token (is openid among oidc.scopes?)' : 'the IdP refresh response had neither id_token nor access_token')
    }
    return await identityFrom(this.cfg, primary, extra, this.groups?.groupsOf.bind(this.groups))
  }

  /**
   * Mint a session token and remember who signed in (the directory write never blocks sign-in).
   * The token joins session family `family` (a refresh continues its sign-in's family; a new
   * sign-in starts one), recorded with `refreshToken`'s hash so that signing out either token ends
   * the refresh grant for the whole sign-in (lib/session/store.ts).
   */
  async mint (who: Identity, link: { family?: string | null | undefined, refreshToken?: string | undefined } = {}): Promise<{ token: string, expiresIn: number }> {
    const tag = this.config.admin?.billing_group_tag
    const minted = mintToken(this.ring, tag !== undefined ? { ...who, billingGroupTag: tag } : who, { ttlHours: this.config.session.ttl_hours, issuer: this.config.listen.public_url })
    const family = link.family ?? randomBytes(16).toString('base64url')
    await Promise.all([
      principalSeen({ sub: who.sub, email: who.email, name: who.name, groups: who.groups })
        .catch((err: unknown) => { ops.warn(`could not record principal ${who.sub}: ${describeError(err)}`) }),
      linkFamily({ family, sub: who.sub, tokenId: tokenId(minted.token), tokenTtl: minted.expiresIn + 300, refreshHash: link.refreshToken === undefined ? undefined : refreshHash(link.refreshToken) })
        .catch((err: unknown) => { ops.warn(`could not record the session family of ${who.sub} (signing out will not end its refresh grant): ${describeError(err)}`) }),
    ])
    return minted
  }
}

const sha256hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex')

/**
 * How an IdP refresh token is stored (revocations, family links): hex SHA-256 of its text, a
 * JWT-shaped one (three non-empty dot-separated segments) in its canonical base64url spelling, so
 * re-spelling a signed-out JWT refresh token for a lenient IdP does not dodge the list.
 */
export function refreshHash (token: string): string {
  const parts = token.split('.')
  const jwtShaped = parts.length === 3 && parts.every((x) => x !== '')
  return sha256hex(jwtShaped ? canonicalSpelling(token) ?? token : token)
}

/** Every hash a refresh token may be on record under (the exact text's, as earlier versions stored). */
export const refreshHashes = (token: string): string[] => [...new Set([refreshHash(token), sha256hex(token)])]

/** Build the sign-in context for a worker, or null when no IdP is configured. */
export function buildSignIn (ctx: WorkerContext, trusted: CidrList): SignIn | null {
  if (ctx.boot.oidc === null || ctx.config.oidc === undefined) return null
  return new SignIn(ctx.config, ctx.boot.oidc, trusted)
}
