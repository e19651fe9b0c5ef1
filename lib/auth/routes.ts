/**
 * The OAuth endpoints the Claude Code CLI calls (all unauthenticated, form-encoded, answered
 * directly with `Cache-Control: no-store`):
 *
 *   POST /oauth/device_authorization  RFC 8628 §3.1-3.2; the body is not needed (Claude Code sends
 *                                     `surface=claude_code`), unknown parameters are ignored.
 *                                     Over `rate_limits.device_authorization` per client address:
 *                                     429 `slow_down` with Retry-After.
 *   POST /oauth/token                 device grant: authorization_pending / slow_down (429, when
 *                                     polled again within 4 s) / access_denied / expired_token /
 *                                     200 once; refresh grant: renews with the IdP and re-runs every
 *                                     identity check (401 invalid_grant or 503 temporarily_unavailable).
 *   POST /oauth/revoke                RFC 7009: 200 for any well-formed request. A Weir session
 *                                     token (in any spelling that decodes to it) is refused on every
 *                                     worker and replica from then on, and so are the refresh tokens
 *                                     of its sign-in (its session family); any other token is taken
 *                                     for an IdP refresh token, refused by the refresh grant from
 *                                     then on with the rest of its family, and revoked at the IdP
 *                                     when it can.
 *
 * Without an `oidc` block none of these routes exists (404).
 */
import type { HttpResponse } from 'uWebSockets.js'
import { IdpUnavailable, SignInError } from './errors.js'
import { GRANT_TTL_S } from './grants.js'
import { buildSignIn, refreshHash, refreshHashes, type SignIn } from './signin.js'
import { GatewayError } from '../errors.js'
import { audit, describeError, ops } from '../log.js'
import type { Services } from '../services.js'
import { refreshStanding, revokeRefreshToken, revokeSession } from '../session/client.js'
import { FAMILY_TTL_S } from '../session/store.js'
import { canonicalSpelling, TokenRefused, verifySession } from '../session/token.js'
import { kvIncr } from '../store/client.js'
import type { WorkerContext } from '../worker-context.js'
import { readForm, registerDevicePages } from './device-pages.js'
import type { Req } from '../http/request.js'
import { send, sendJson } from '../http/respond.js'
import type { Router } from '../http/router.js'

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
/** Seconds between polls the client is told to keep (`interval`). */
const INTERVAL_S = 5
/** How long a signed-out IdP refresh token stays refused (IdPs rarely keep them longer). */
const REFRESH_REVOCATION_TTL_S = FAMILY_TTL_S
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const

/** Register every sign-in route (OAuth endpoints and browser pages) when an IdP is configured. */
export function registerSignInRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  const s = buildSignIn(ctx, svc.trusted)
  if (s === null) return
  registerOAuthRoutes(router, s)
  registerDevicePages(router, s)
}

function registerOAuthRoutes (router: Router, s: SignIn): void {
  const rules = s.config.rate_limits

  router.on('POST', '/oauth/device_authorization', async (res, rq) => {
    const form = readForm(res, rq).catch(() => null)
    const ip = s.ip(rq)
    const surface = (await form)?.get('surface')?.slice(0, 64)
    const lim = await s.limit('devauth', ip, rules.device_authorization)
    if (lim.limited) {
      audit('device.authorize', { request_id: rq.id, result: 'rate_limited', client_ip: ip })
      throw new GatewayError('OAUTH_SLOW_DOWN_429', 'Too many sign-in attempts from this network; wait a few minutes and try again.',
        { headers: { 'retry-after': String(lim.retryAfter) } })
    }
    const { deviceCode, userCode } = await s.grants.create(ip)
    audit('device.authorize', { request_id: rq.id, result: 'success', client_ip: ip, surface })
    const base = s.base(rq)
    sendJson(res, rq, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${base}/device`,
      verification_uri_complete: `${base}/device?user_code=${encodeURIComponent(userCode)}`,
      expires_in: GRANT_TTL_S,
      interval: INTERVAL_S,
      ...(s.loginNotice !== undefined ? { login_notice: s.loginNotice } : {}),
    }, NO_STORE)
  })

  router.on('POST', '/oauth/token', async (res, rq) => {
    const form = await readForm(res, rq)
    if (form === null) throw new GatewayError('OAUTH_INVALID_REQUEST', 'the body must be application/x-www-form-urlencoded')
    const grantType = form.get('grant_type')
    if (grantType === DEVICE_GRANT) { await deviceGrant(res, rq, s, form); return }
    if (grantType === 'refresh_token') { await refreshGrant(res, rq, s, form); return }
    throw new GatewayError('OAUTH_UNSUPPORTED_GRANT')
  })

  router.on('POST', '/oauth/revoke', async (res, rq) => {
    const form = await readForm(res, rq)
    const token = form?.get('token')
    if (form === null || token === undefined || token === '') throw new GatewayError('OAUTH_INVALID_REQUEST', 'token is required')
    await revoke(rq, s, token)
    send(res, rq, 200, '', NO_STORE)
  })
}

async function deviceGrant (res: HttpResponse, rq: Req, s: SignIn, form: Map<string, string>): Promise<void> {
  const deviceCode = form.get('device_code')
  if (deviceCode === undefined || deviceCode === '') throw new GatewayError('OAUTH_INVALID_REQUEST', 'device_code is required')
  const loaded = await s.grants.loadByDeviceCode(deviceCode)
  if (loaded === null) throw new GatewayError('OAUTH_EXPIRED_TOKEN')
  if (loaded.grant.status === 'pending') {
    // Two polls inside one (interval - 1) second window: the client is polling too fast.
    const c = await kvIncr(`rl:poll:${loaded.key}`, INTERVAL_S - 1)
    throw new GatewayError(c.count > 1 ? 'OAUTH_SLOW_DOWN_429' : 'OAUTH_AUTHORIZATION_PENDING')
  }
  const g = await s.grants.take(loaded.key)
  if (g === null) throw new GatewayError('OAUTH_EXPIRED_TOKEN')
  if (g.status !== 'complete') throw new GatewayError('OAUTH_ACCESS_DENIED')
  sendJson(res, rq, 200, {
    access_token: g.access_token,
    token_type: 'Bearer',
    expires_in: g.expires_in,
    ...(g.refresh_token !== undefined ? { refresh_token: g.refresh_token } : {}),
    ...(g.email !== undefined ? { email: g.email } : {}),
  }, NO_STORE)
}

async function refreshGrant (res: HttpResponse, rq: Req, s: SignIn, form: Map<string, string>): Promise<void> {
  const presented = form.get('refresh_token')
  if (presented === undefined || presented === '') throw new GatewayError('OAUTH_INVALID_REQUEST', 'refresh_token is required')
  const ip = s.ip(rq)
  try {
    const standing = await refreshStanding(refreshHashes(presented))
    if (standing.revoked) throw new SignInError('invalid_grant', 'the refresh token or its sign-in was signed out')
    const tokens = await s.oidc.refresh(presented)
    const who = await s.identify(tokens, undefined)
    // The new tokens stay in the sign-in's family (a token from before families starts one).
    const minted = await s.mint(who, { family: standing.family, refreshToken: tokens.refresh_token ?? presented })
    audit('session.refresh', { request_id: rq.id, result: 'success', sub: who.sub, email: who.email, client_ip: ip, ttl_hours: s.config.session.ttl_hours })
    sendJson(res, rq, 200, {
      access_token: minted.token,
      token_type: 'Bearer',
      expires_in: minted.expiresIn,
      refresh_token: tokens.refresh_token ?? presented,
    }, NO_STORE)
  } catch (err) {
    const e = err instanceof SignInError ? err : new IdpUnavailable(describeError(err))
    ops.warn(`refresh failed request_id=${rq.id}: ${e.message} (answered ${e.outcome})`)
    audit('session.refresh', { request_id: rq.id, result: 'fail', client_ip: ip, err: e.message })
    if (e.outcome === 'invalid_grant') throw new GatewayError('OAUTH_INVALID_GRANT')
    throw new GatewayError('OAUTH_TEMPORARILY_UNAVAILABLE', undefined, { headers: { 'retry-after': '30' } })
  }
}

/**
 * Whether `token` looks like one of this gateway's session tokens: an HS256 JWT whose `kid` names
 * one of our secrets (Weir always sets it). Anything else — an IdP refresh token, which may be a
 * JWT too — goes down the refresh-token path.
 */
function isSessionToken (s: SignIn, token: string): boolean {
  const dot = token.indexOf('.')
  if (dot <= 0 || token.split('.').length !== 3) return false
  try {
    const h = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { alg?: unknown, kid?: unknown }
    if (h === null || typeof h !== 'object') return false
    return h.alg === 'HS256' && typeof h.kid === 'string' && s.ring.byKid.has(h.kid)
  } catch {
    return false
  }
}

async function revoke (rq: Req, s: SignIn, token: string): Promise<void> {
  const ip = s.ip(rq)
  if (isSessionToken(s, token)) {
    try {
      // Sign-out honours a sloppy spelling of a real token: it revokes the one canonical token the
      // spelling stands for (authentication accepts only that spelling, so nothing else is live).
      const v = verifySession(s.ring, canonicalSpelling(token) ?? token, { issuer: s.config.listen.public_url })
      const p = v.principal
      const family = await revokeSession({ id: v.id, sub: p.sub, exp: p.exp })
      audit('session.revoke', { request_id: rq.id, result: 'revoked', token_type: 'access_token', sub: p.sub, client_ip: ip, ...(family !== null ? { family_revoked: true } : {}) })
    } catch (err) {
      if (!(err instanceof TokenRefused)) throw err
      // Expired or not valid: nothing can use it anyway (RFC 7009 §2.2 answers 200 regardless).
      audit('session.revoke', { request_id: rq.id, result: err.reason === 'expired_token' ? 'expired' : 'invalid', token_type: 'access_token', client_ip: ip })
    }
    return
  }
  // Anything else is taken for the IdP's refresh token. Anyone can post junk here, so the rows it
  // creates are capped per client address like sign-in attempts are.
  const lim = await s.limit('revoke', ip, s.config.rate_limits.device_authorization)
  if (lim.limited) {
    audit('session.revoke', { request_id: rq.id, result: 'rate_limited', token_type: 'refresh_token', client_ip: ip })
    throw new GatewayError('OAUTH_SLOW_DOWN_429', 'Too many sign-outs from this network; wait a few minutes and try again.', { headers: { 'retry-after': String(lim.retryAfter) } })
  }
  await revokeRefreshToken(refreshHash(token), REFRESH_REVOCATION_TTL_S)
  let atIdp = 'no_endpoint'
  try {
    if (await s.oidc.revoke(token, 'refresh_token')) atIdp = 'revoked'
  } catch (err) {
    atIdp = 'failed'
    ops.warn(`revoking a refresh token at the IdP failed request_id=${rq.id}: ${describeError(err)}`)
  }
  audit('session.revoke', { request_id: rq.id, result: 'revoked', token_type: 'refresh_token', idp: atIdp, client_ip: ip })
}
