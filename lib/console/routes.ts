/**
 * The operator console, served by Weir itself under `/console` when both `admin:` and `oidc:` are
 * configured (otherwise these paths are the ordinary 404):
 *
 *   GET  /console, /console/…     the app shell (static HTML; the app reads /console/api/session)
 *   GET  /console/assets/<name>   the bundle, content-hashed names, cached for a year
 *   GET  /console/login           starts the OIDC sign-in (PKCE, state, nonce) → the IdP
 *   GET  /console/callback        the IdP's redirect: code exchanged, identity checked, then the
 *                                 session cookie (lib/console/session.ts) or a refusal page
 *   POST /console/logout          ends the session (CSRF token required) and revokes its token
 *   *    /console/api/…           JSON for the pages (lib/console/api.ts)
 *
 * The console's redirect URI, `{base}/console/callback`, must be registered with the IdP next to
 * `/oauth/callback`. Every console answer carries a strict CSP (no inline script or style,
 * `default-src 'self'`, `frame-ancestors 'none'`) and `no-store` except the hashed assets.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { HttpResponse } from 'uWebSockets.js'
import { buildSignIn } from '../auth/signin.js'
import { errorBody, GatewayError } from '../errors.js'
import { describeError, audit, ops } from '../log.js'
import { getCookie, parseQuery, type Req } from '../http/request.js'
import { send } from '../http/respond.js'
import type { Router } from '../http/router.js'
import { revokeSession } from '../session/client.js'
import { tokenId } from '../session/token.js'
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { registerConsoleApi } from './api.js'
import { loadAssets, messageHtml, shellHtml } from './assets.js'
import { CookieJar, LOGIN_TTL_S, type LoginState, readSession, roleOf, sealSession, sha256, csrfOk, CSRF_REFUSED } from './session.js'
import { seal, unseal } from '../auth/seal.js'

export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
const PAGE = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': CONSOLE_CSP } as const

export function registerConsoleRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  if (ctx.config.admin === undefined) return
  const s = buildSignIn(ctx, svc.trusted)
  if (s === null) return
  const secure = ctx.config.listen.tls !== undefined || (ctx.config.listen.public_url?.startsWith('https:') ?? false)
  const jar = new CookieJar(secure)
  const page = (res: HttpResponse, rq: Req, status: number, html: string, extra?: Record<string, string | string[]>): void => {
    send(res, rq, status, html, { ...PAGE, ...extra })
  }
  const shell = (res: HttpResponse, rq: Req): void => { page(res, rq, 200, shellHtml(loadAssets())) }
  router.on('GET', '/console', shell)
  router.on('GET', '/console/', shell)
  for (const p of ['overview', 'caps', 'people', 'upstreams', 'audit', 'analytics']) router.on('GET', `/console/${p}`, shell)

  router.under(['GET'], '/console/assets', (res, rq) => {
    const name = rq.path.slice('/console/assets/'.length)
    const a = loadAssets()?.files.get(name)
    if (a === undefined) { page(res, rq, 404, messageHtml('Not found', 'There is no such console file.', { href: '/console/', text: 'Open the console' })); return }
    send(res, rq, 200, a.body, { 'content-type': a.type, 'cache-control': 'public, max-age=31536000, immutable', 'content-security-policy': CONSOLE_CSP })
  })

  router.on('GET', '/console/login', async (res, rq) => {
    const cookie = randomBytes(32).toString('base64url')
    const verifier = s.cfg.use_pkce ? randomBytes(32).toString('base64url') : undefined
    const nonce = randomBytes(32).toString('base64url')
    const st: LoginState = { n: nonce, b: sha256(cookie).toString('hex'), ...(verifier !== undefined ? { v: verifier } : {}) }
    const location = s.oidc.authorizationUrl({
      redirectUri: `${s.base(rq)}/console/callback`,
      state: await seal(s.keys, 'console_state', st, LOGIN_TTL_S),
      nonce,
      codeChallenge: verifier === undefined ? undefined : sha256(verifier).toString('base64url'),
    })
    send(res, rq, 302, '', { location, 'set-cookie': jar.loginCookie(cookie), 'cache-control': 'no-store', 'content-security-policy': CONSOLE_CSP })
  })

  router.on('GET', '/console/callback', async (res, rq) => {
    const q = parseQuery(rq.query)
    const ip = s.ip(rq)
    const clearLogin = jar.clear(jar.login, 'Lax')
    const again = { href: '/console/login', text: 'Sign in again' }
    const fail = (status: number, reason: string, title: string, msg: string): void => {
      audit('console.denied', { request_id: rq.id, reason, client_ip: ip })
      page(res, rq, status, messageHtml(title, msg, again), { 'set-cookie': clearLogin })
    }
    const raw = q.get('state')
    const st = raw === null ? null : await unseal<LoginState>(s.keys, 'console_state', raw)
    const cookie = getCookie(rq, jar.login)
    const want = st === null ? null : Buffer.from(st.b, 'hex')
    const sameBrowser = want !== null && want.length === 32 && cookie !== undefined && timingSafeEqual(sha256(cookie), want)
    const error = q.get('error')
    if (error !== null) { fail(400, 'idp_error', 'Sign-in did not complete', `The identity provider answered: ${error.slice(0, 64)}`); return }
    const code = q.get('code')
    if (code === null || st === null) { fail(400, 'invalid_state', 'Sign-in expired', 'This sign-in link has expired or was altered.'); return }
    if (!sameBrowser) { fail(400, 'browser_mismatch', 'Sign-in expired', 'This sign-in was started in another browser or window, or took too long.'); return }
    try {
      const tokens = await s.oidc.exchangeCode({ code, redirectUri: `${s.base(rq)}/console/callback`, verifier: st.v, iss: q.get('iss') ?? undefined })
      const who = await s.identify(tokens, st.n)
      const role = roleOf(s.config, who.groups ?? [])
      if (role === null) {
        audit('console.denied', { request_id: rq.id, reason: 'not_an_administrator', sub: who.sub, email: who.email, client_ip: ip })
        page(res, rq, 403, messageHtml('Not an administrator',
          `You are signed in as ${who.email ?? who.sub}, but the Weir console is only for members of the groups in admin.admin_groups or admin.read_only_groups. Ask your Weir administrator for access.`, null),
        { 'set-cookie': clearLogin })
        return
      }
      const minted = await s.mint(who, { refreshToken: tokens.refresh_token })
      const p = svc.sessions.verify(minted.token)
      const sealed = await sealSession(s.keys, p, minted.token)
      audit('console.sign_in', { request_id: rq.id, sub: who.sub, email: who.email, role, client_ip: ip })
      send(res, rq, 302, '', { location: '/console/', 'set-cookie': [clearLogin, jar.sessionCookie(sealed.value, sealed.maxAge)], 'cache-control': 'no-store', 'content-security-policy': CONSOLE_CSP })
    } catch (err) {
      ops.warn(`console sign-in failed request_id=${rq.id}: ${describeError(err)}`)
      fail(502, 'exchange_failed', 'Sign-in could not be completed', 'The identity provider could not confirm who you are. Try again in a moment.')
    }
  })

  router.on('POST', '/console/logout', async (res, rq) => {
    const sess = await readSession(s.keys, jar, rq)
    const json = { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-security-policy': CONSOLE_CSP }
    if (sess === null) { send(res, rq, 200, '{"signed_out":true}', { ...json, 'set-cookie': jar.clear(jar.session, 'Strict') }); return }
    if (!csrfOk(sess, rq)) { send(res, rq, 403, errorBody(new GatewayError('GW_FORBIDDEN', CSRF_REFUSED), rq.id), json); return }
    try {
      const p = svc.sessions.verify(sess.t)
      await revokeSession({ id: tokenId(sess.t), sub: p.sub, exp: p.exp })
    } catch (err) { ops.warn(`console sign-out: the session token was not revoked (already expired or revoked, or the store failed): ${describeError(err)}`) }
    audit('console.sign_out', { request_id: rq.id, sub: sess.sub, email: sess.email })
    send(res, rq, 200, '{"signed_out":true}', { ...json, 'set-cookie': jar.clear(jar.session, 'Strict') })
  })

  registerConsoleApi(router, ctx, svc, { keys: s.keys, jar })
}
