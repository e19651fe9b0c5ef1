/**
 * The browser half of the device flow (the CLI never calls these):
 *
 *   GET  /device           code entry, or confirmation of `?user_code=` (never auto-submitted)
 *   POST /device           same-origin only; rate limited per client address; looks the code up,
 *                          sets a short-lived HttpOnly cookie and redirects to the IdP with a
 *                          sealed `state` (grant key, PKCE verifier, nonce, SHA-256 of the cookie)
 *   POST /device/deny      same checks; a pending grant becomes denied (the CLI gets access_denied)
 *   GET  /oauth/callback   the IdP's redirect: state and cookie must match, then the code is
 *                          exchanged, the identity checked, a session minted and the grant completed
 *
 * Same-origin rule for the POSTs: with `Sec-Fetch-Site`, it must be `same-origin` or `none`;
 * without it, `Origin` must equal `{base}`. Anything else is a cross-site request and is refused
 * with a page saying so.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { HttpResponse } from 'uWebSockets.js'
import { SignInError } from './errors.js'
import type { Loaded } from './grants.js'
import { type DevicePageOptions, devicePage, deviceHeaders, resultPage } from './pages.js'
import { seal, unseal } from './seal.js'
import type { SignIn } from './signin.js'
import { audit, describeError, ops } from '../log.js'
import { readBody } from '../http/body.js'
import { getCookie, parseForm, parseQuery, type Req } from '../http/request.js'
import { send } from '../http/respond.js'
import type { Router } from '../http/router.js'

/** Lifetime of the browser cookie and of the sealed state. */
const COOKIE_TTL_S = 600
const STATE_TTL_S = 300

interface State extends Record<string, unknown> {
  /** grant key */ g: string
  /** PKCE verifier (absent with use_pkce: false) */ v?: string
  /** nonce */ n: string
  /** SHA-256 (hex) of the browser cookie */ b: string
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** Largest form body accepted on the sign-in endpoints. */
const MAX_FORM_BYTES = 64 * 1024

/**
 * The form body, or null when the request is not form-encoded. Starts reading at once, so call it
 * before the handler's first await (uWS needs the data handler attached synchronously).
 */
export async function readForm (res: HttpResponse, rq: Req): Promise<Map<string, string> | null> {
  const body = await readBody(res, rq, MAX_FORM_BYTES)
  const ct = (rq.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  return ct === 'application/x-www-form-urlencoded' ? parseForm(body) : null
}

export function registerDevicePages (router: Router, s: SignIn): void {
  const brand = s.config.listen.branding
  const notice = (rq: Req): DevicePageOptions['notice'] =>
    s.loginNotice === undefined ? undefined : { text: s.loginNotice, host: new URL(s.base(rq)).hostname }
  const showDevice = (res: HttpResponse, rq: Req, status: number, o: DevicePageOptions, extra?: Record<string, string>): void => {
    send(res, rq, status, devicePage({ ...o, notice: notice(rq), brand }), { ...deviceHeaders(s.formActionOrigins, brand), ...extra })
  }
  const showResult = (res: HttpResponse, rq: Req, status: number, kind: Parameters<typeof resultPage>[0], detail?: string, clearCookie = false): void => {
    const p = resultPage(kind, detail, brand)
    send(res, rq, status, p.html, clearCookie ? { ...p.headers, 'set-cookie': `${s.cookieName}=; Max-Age=0; ${s.cookieAttrs}` } : p.headers)
  }

  /** The checks both POSTs share. Returns the submitted code, or null after answering. */
  const gate = async (res: HttpResponse, rq: Req): Promise<string | null> => {
    const form = readForm(res, rq).catch(() => null)
    const ip = s.ip(rq)
    const site = rq.headers['sec-fetch-site']
    const sameOrigin = site !== undefined ? site === 'same-origin' || site === 'none' : rq.headers.origin === s.base(rq)
    if (!sameOrigin) {
      audit('device.verify', { request_id: rq.id, result: 'csrf_rejected', client_ip: ip })
      showDevice(res, rq, 403, { error: 'This request came from another site, so it was blocked. Open the sign-in link from Claude Code directly.' })
      return null
    }
    const lim = await s.limit('device', ip, s.config.rate_limits.device_verify)
    if (lim.limited) {
      audit('device.verify', { request_id: rq.id, result: 'rate_limited', client_ip: ip })
      showDevice(res, rq, 429, { error: 'Too many attempts from your network. Wait a few minutes, then try again.' }, { 'retry-after': String(lim.retryAfter) })
      return null
    }
    return (await form)?.get('user_code') ?? ''
  }

  router.on('GET', '/device', (res, rq) => {
    const code = parseQuery(rq.query).get('user_code') ?? undefined
    showDevice(res, rq, 200, { code: code?.slice(0, 32) })
  })

  router.on('POST', '/device', async (res, rq) => {
    const code = await gate(res, rq)
    if (code === null) return
    const key = await s.grants.keyForUserCode(code)
    if (key === null) {
      audit('device.verify', { request_id: rq.id, result: 'unknown_code', client_ip: s.ip(rq) })
      showDevice(res, rq, 200, { error: 'That code was not recognized. It may have expired; check the code in your terminal and try again.' })
      return
    }
    const cookie = randomBytes(32).toString('base64url')
    const verifier = s.cfg.use_pkce ? randomBytes(32).toString('base64url') : undefined
    const nonce = randomBytes(32).toString('base64url')
    const st: State = { g: key, n: nonce, b: sha256(cookie).toString('hex'), ...(verifier !== undefined ? { v: verifier } : {}) }
    const location = s.oidc.authorizationUrl({
      redirectUri: `${s.base(rq)}/oauth/callback`,
      state: await seal(s.keys, 'oauth_state', st, STATE_TTL_S),
      nonce,
      codeChallenge: verifier === undefined ? undefined : sha256(verifier).toString('base64url'),
    })
    audit('device.verify', { request_id: rq.id, result: 'redirect', client_ip: s.ip(rq) })
    send(res, rq, 302, '', {
      location,
      'set-cookie': `${s.cookieName}=${cookie}; Max-Age=${COOKIE_TTL_S}; ${s.cookieAttrs}`,
      'cache-control': 'no-store',
    })
  })

  router.on('POST', '/device/deny', async (res, rq) => {
    const code = await gate(res, rq)
    if (code === null) return
    const key = await s.grants.keyForUserCode(code)
    const loaded = key === null ? null : await s.grants.load(key)
    if (loaded?.grant.status === 'pending' &&
        await s.grants.decide(loaded, { status: 'denied', user_code: loaded.grant.user_code, created_at: loaded.grant.created_at })) {
      audit('device.verify', { request_id: rq.id, result: 'denied', client_ip: s.ip(rq) })
      showResult(res, rq, 200, 'denied')
      return
    }
    audit('device.verify', { request_id: rq.id, result: 'unknown_code', client_ip: s.ip(rq) })
    showResult(res, rq, 200, 'not_waiting')
  })

  router.on('GET', '/oauth/callback', async (res, rq) => {
    const q = parseQuery(rq.query)
    const ip = s.ip(rq)
    const rawState = q.get('state')
    const st = rawState === null ? null : await unseal<State>(s.keys, 'oauth_state', rawState)
    const cookie = getCookie(rq, s.cookieName)
    const want = st === null ? null : Buffer.from(st.b, 'hex')
    const sameBrowser = want !== null && want.length === 32 && cookie !== undefined && timingSafeEqual(sha256(cookie), want)

    const error = q.get('error')
    if (error !== null) {
      // The person declined at the IdP: stop the CLI's polling too (only for the browser that started it).
      if (error === 'access_denied' && sameBrowser) await decideDenied(s, await s.grants.load((st as State).g))
      audit('device.callback', { request_id: rq.id, result: 'idp_error', error: error.slice(0, 64), client_ip: ip })
      const desc = q.get('error_description')
      showResult(res, rq, 400, 'failed', desc !== null ? `${error}: ${desc}` : `The identity provider answered: ${error}`, true)
      return
    }
    const code = q.get('code')
    if (code === null || st === null) {
      audit('device.callback', { request_id: rq.id, result: 'invalid_state', client_ip: ip })
      showResult(res, rq, 400, 'failed', 'This sign-in link has expired. Start again from Claude Code.')
      return
    }
    if (!sameBrowser) {
      audit('device.callback', { request_id: rq.id, result: 'browser_mismatch', client_ip: ip })
      showResult(res, rq, 400, 'failed', 'This sign-in was started in another browser. Open the sign-in link on the device that showed the code.', true)
      return
    }
    const loaded = await s.grants.load(st.g)
    if (loaded === null || loaded.grant.status !== 'pending') {
      audit('device.callback', { request_id: rq.id, result: 'not_pending', client_ip: ip })
      showResult(res, rq, 400, 'not_waiting', undefined, true)
      return
    }
    try {
      const tokens = await s.oidc.exchangeCode({ code, redirectUri: `${s.base(rq)}/oauth/callback`, verifier: st.v, iss: q.get('iss') ?? undefined })
      const who = await s.identify(tokens, st.n)
      const minted = await s.mint(who, { refreshToken: tokens.refresh_token })
      const done = await s.grants.decide(loaded, {
        status: 'complete',
        user_code: loaded.grant.user_code,
        created_at: loaded.grant.created_at,
        access_token: minted.token,
        expires_in: minted.expiresIn,
        ...(tokens.refresh_token !== undefined ? { refresh_token: tokens.refresh_token } : {}),
        ...(who.email !== undefined ? { email: who.email } : {}),
      })
      if (!done) {
        audit('device.callback', { request_id: rq.id, result: 'not_pending', client_ip: ip })
        showResult(res, rq, 409, 'not_waiting', undefined, true)
        return
      }
      audit('session.mint', { request_id: rq.id, result: 'success', sub: who.sub, email: who.email, client_ip: ip, ttl_hours: s.config.session.ttl_hours })
      showResult(res, rq, 200, 'signed_in', undefined, true)
    } catch (err) {
      const why = describeError(err)
      ops.warn(`token exchange failed request_id=${rq.id}: ${why}`)
      audit('session.mint', { request_id: rq.id, result: 'fail', client_ip: ip, err: why })
      await decideDenied(s, loaded)
      const policy = err instanceof SignInError && err.userMessage !== undefined
      showResult(res, rq, policy ? 403 : 502, 'failed', policy ? (err as SignInError).userMessage : 'Sign-in could not be completed.', true)
    }
  })
}

/** Mark a still-pending grant denied (best effort: a failure here only delays the CLI's stop). */
async function decideDenied (s: SignIn, loaded: Loaded | null): Promise<void> {
  if (loaded?.grant.status !== 'pending') return
  await s.grants.decide(loaded, { status: 'denied', user_code: loaded.grant.user_code, created_at: loaded.grant.created_at })
    .catch((err: unknown) => { ops.warn(`could not mark a grant denied: ${describeError(err)}`) })
}
