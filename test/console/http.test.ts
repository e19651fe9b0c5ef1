/**
 * The console's server side over plain HTTP (runs everywhere, no browser): the sign-in flow and
 * its cookie attributes, CSP and cache headers, the non-admin refusal page, the session API, CSRF
 * refusals, read-only administrators refused every change by the server, caps and sign-outs
 * through the console writing the same audit rows as the admin API, console sign-out revoking the
 * session, a person signed out everywhere losing their console session too, and the console's
 * own body cap.
 */
import t from 'tap'
import { req } from '../helpers/http.js'
import { admin, post, bearer, eventually } from '../integration/spend-helpers.js'
import { CONSOLE_MAX_BODY } from '../../lib/console/api.js'
import { ADMIN, consoleApi, consoleGateway, consoleSignIn, DEV, READER } from './helpers.js'

t.test('the console over HTTP', async (t) => {
  const { url, idp } = await consoleGateway(t)

  await t.test('shell, assets and headers', async (t) => {
    const shell = await req(`${url}/console/`)
    t.equal(shell.status, 200)
    const csp = shell.headers['content-security-policy'] ?? ''
    t.match(csp, /default-src 'self'/)
    t.match(csp, /frame-ancestors 'none'/)
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or style is allowed')
    t.equal(shell.headers['cache-control'], 'no-store')
    t.equal(shell.headers['x-frame-options'], 'DENY')
    t.notMatch(shell.text, /<script>|<style|style="/, 'the shell has no inline script or style')
    const js = /src="(\/console\/assets\/app\.[A-Z0-9]+\.js)"/.exec(shell.text)?.[1]
    const css = /href="(\/console\/assets\/app\.[A-Z0-9]+\.css)"/.exec(shell.text)?.[1]
    t.ok(js, 'the shell names a content-hashed script')
    t.ok(css, 'and a content-hashed stylesheet')
    const a = await req(`${url}${js as string}`)
    t.equal(a.status, 200)
    t.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.match(a.headers['content-type'], /^text\/javascript/)
    t.equal((await req(`${url}${css as string}`)).status, 200)
    t.equal((await req(`${url}/console/assets/nope.js`)).status, 404)
    t.equal((await req(`${url}/console/overview`)).status, 200, 'deep links serve the shell')
    const unauth = await req(`${url}/console/api/session`)
    t.equal(unauth.status, 401)
    t.match(unauth.json(), { type: 'error', error: { type: 'authentication_error' } })
  })

  await t.test('an administrator signs in: PKCE, state, nonce; cookie attributes', async (t) => {
    idp.setUser(ADMIN.email)
    const login = await req(`${url}/console/login`)
    t.equal(login.status, 302)
    const to = new URL(login.headers.location ?? '')
    t.equal(to.origin, idp.issuer)
    t.equal(to.searchParams.get('redirect_uri'), `${url}/console/callback`)
    t.equal(to.searchParams.get('code_challenge_method'), 'S256')
    t.ok(to.searchParams.get('state'))
    t.ok(to.searchParams.get('nonce'))
    t.match(login.headers['set-cookie'], /^weir_console_login=[\w-]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/)

    const s = await consoleSignIn(url, idp, ADMIN.email)
    t.equal(s.callback.status, 302)
    t.equal(s.callback.headers.location, '/console/')
    t.ok(s.cookieLine, 'a session cookie was set')
    const attrs = (s.cookieLine ?? '').split(';').map((x) => x.trim())
    t.ok(attrs.includes('HttpOnly'))
    t.ok(attrs.includes('Secure'))
    t.ok(attrs.includes('SameSite=Strict'))
    t.ok(attrs.includes('Path=/'))
    t.ok(attrs.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.slice(8)) <= 8 * 3600 && Number(a.slice(8)) > 0))
    t.match(s.callback.headers['set-cookie'], /weir_console_login=; Max-Age=0/, 'the login cookie is cleared')
    const me = await consoleApi(url, s, 'GET', '/session')
    t.equal(me.status, 200)
    t.match(me.json(), { user: { user_id: 'u-admin', email: ADMIN.email, groups: ['finops'] }, role: 'admin', csrf_token: /^[\w-]{20,}$/ })
    t.notMatch(me.text, /w{40}|r{40}/, 'no admin key in anything the browser sees')
    t.equal(me.headers['cache-control'], 'no-store')
  })

  await t.test('a callback without the login cookie, or with a forged state, is refused', async (t) => {
    idp.setUser(ADMIN.email)
    const login = await req(`${url}/console/login`)
    const state = new URL(login.headers.location ?? '').searchParams.get('state') ?? ''
    const noCookie = await req(`${url}/console/callback?code=x&state=${encodeURIComponent(state)}`)
    t.equal(noCookie.status, 400)
    t.match(noCookie.text, /started in another browser/)
    t.notOk(/weir_console=[^;]/.test(noCookie.headers['set-cookie'] ?? ''), 'no session cookie')
    const forged = await req(`${url}/console/callback?code=x&state=forged`)
    t.equal(forged.status, 400)
  })

  await t.test('a non-administrator is refused with a page, and gets no session', async (t) => {
    const s = await consoleSignIn(url, idp, DEV.email)
    t.equal(s.callback.status, 403)
    t.match(s.callback.text, /Not an administrator/)
    t.match(s.callback.text, /dev@example\.com/)
    t.match(s.callback.headers['content-security-policy'], /default-src 'self'/)
    t.equal(s.cookie, undefined)
    t.equal((await consoleApi(url, s, 'GET', '/overview')).status, 401)
  })

  await t.test('CSRF: a change without the token, with a wrong one, or cross-site is refused', async (t) => {
    const s = await consoleSignIn(url, idp, ADMIN.email)
    const csrf = (await consoleApi(url, s, 'GET', '/session')).json().csrf_token as string
    const body = { scope: { type: 'organization' }, amount: '500', period: 'daily' }
    const none = await consoleApi(url, s, 'POST', '/caps', { body })
    t.equal(none.status, 403)
    t.same(none.json().error, { type: 'permission_error', message: 'missing or invalid CSRF token: send the x-csrf-token header the console session gave you (GET /console/api/session)' })
    t.equal((await consoleApi(url, s, 'POST', '/caps', { body, csrf: csrf + 'x' })).status, 403)
    t.equal((await consoleApi(url, s, 'POST', '/caps', { body, csrf, headers: { 'sec-fetch-site': 'cross-site' } })).status, 403)
    t.equal((await consoleApi(url, s, 'DELETE', '/caps/anything', {})).status, 403)
    t.equal((await consoleApi(url, s, 'POST', '/sign_out', { body: { email: DEV.email } })).status, 403)
    const out = await req(`${url}/console/logout`, { method: 'POST', headers: { cookie: `weir_console=${s.cookie ?? ''}` } })
    t.equal(out.status, 403, 'sign-out needs the token too')
    t.same(out.json().error, none.json().error, 'and is refused in the same envelope as the API')
    t.match(out.json().request_id, /\S/, 'naming its request id')
    t.equal((await admin(url, 'GET', '?scope_type=organization')).json().data.length, 0, 'nothing was written')
  })

  await t.test('a console body is capped at 64 KiB: 413 with a session, 401 without, nothing written', async (t) => {
    const s = await consoleSignIn(url, idp, ADMIN.email)
    const csrf = (await consoleApi(url, s, 'GET', '/session')).json().csrf_token as string
    const pad = 'x'.repeat(CONSOLE_MAX_BODY)
    const big = await consoleApi(url, s, 'POST', '/caps', { body: { scope: { type: 'organization' }, amount: '7', period: 'daily', pad }, csrf })
    t.equal(big.status, 413)
    t.equal(big.json().error.type, 'request_too_large')
    const u = new URL(`${url}/console/api/caps`)
    const anon = await req(u.href, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(32 * 1024 * 1024) }, body: Buffer.alloc(1024) }).catch((err: unknown) => err)
    t.ok(anon instanceof Error || (anon as { status: number }).status === 401, 'a 32 MiB declared body without a session: refused before it is read (401, connection closed)')
    t.equal((await admin(url, 'GET', '?scope_type=organization')).json().data.length, 0, 'nothing was written')
  })

  await t.test('caps through the console: same rows, same audit trail, and a request refused', async (t) => {
    const s = await consoleSignIn(url, idp, ADMIN.email)
    const csrf = (await consoleApi(url, s, 'GET', '/session')).json().csrf_token as string
    const dev = bearer('u-dev', ['eng'])
    t.equal((await post(url, dev)).status, 200, 'a developer request goes through')
    await eventually(async () => (await consoleApi(url, s, 'GET', '/principals?user_id=u-dev')).json().data.length === 1, 'the developer is seen')
    const made = await consoleApi(url, s, 'POST', '/caps', { body: { scope: { type: 'user', user_id: 'u-dev' }, amount: '1', period: 'daily' }, csrf })
    t.equal(made.status, 200, made.text)
    const cap = made.json()
    t.match(cap, { type: 'spend_limit', scope: { type: 'user', user_id: 'u-dev' }, amount: '1', period: 'daily' })
    const list = await consoleApi(url, s, 'GET', '/caps')
    t.same(list.json().data.map((c: { id: string }) => c.id), [cap.id])
    const log = (await admin(url, 'GET', '/audit?limit=1')).json().data[0]
    t.match(log, { action: 'spend_limit.upsert', actor: 'oidc:u-admin', target_id: cap.id })
    await eventually(async () => (await post(url, dev)).status === 429, 'the developer is refused at the cap')
    const eff = await consoleApi(url, s, 'GET', '/caps/effective?user_ids[]=u-dev&period[]=daily')
    t.match(eff.json().data[0], { amount: '1' })
    const del = await consoleApi(url, s, 'DELETE', `/caps/${cap.id}`, { csrf })
    t.equal(del.status, 200)
    t.match((await admin(url, 'GET', '/audit?limit=1')).json().data[0], { action: 'spend_limit.delete', actor: 'oidc:u-admin', target_id: cap.id })
    await eventually(async () => (await post(url, dev)).status === 200, 'the developer gets through again')
    const audit = await consoleApi(url, s, 'GET', '/audit?action=spend_limit.delete')
    t.same(audit.json().data.map((e: { target_id: string }) => e.target_id), [cap.id], 'the audit page filters by action')
    t.ok(audit.json().actions.includes('spend_limit.upsert'))
    const ov = await eventually(async () => { const o = (await consoleApi(url, s, 'GET', '/overview')).json(); return Number(o.periods[0].spend) >= 1 ? o : null }, 'today\'s spend counts the developer\'s requests (metering flushes in batches)')
    t.match(ov?.periods, [{ period: 'daily', people: 1 }, { period: 'weekly' }, { period: 'monthly' }])
    const people = (await consoleApi(url, s, 'GET', '/people?q=dev')).json()
    t.ok(people.data.some((p: { user_id: string }) => p.user_id === 'u-dev'))
    const up = await eventually(async () => { const r = (await consoleApi(url, s, 'GET', '/upstreams')).json(); return r.upstreams.length > 0 && (r.refusals.spend_limit ?? 0) >= 1 ? r : null }, 'upstream figures and the refusal (workers flush every 2 s)')
    t.match(up.upstreams[0], { upstream: 'anthropic', attempts: Number })
    t.ok(up.upstreams[0].ok >= 1)
    t.ok((up.refusals.spend_limit ?? 0) >= 1, 'the refusal at the cap is counted')
    t.same(up.configured, [{ name: 'anthropic', provider: 'anthropic' }])
  })

  await t.test('a read-only administrator sees everything and changes nothing', async (t) => {
    const s = await consoleSignIn(url, idp, READER.email)
    t.equal(s.callback.status, 302)
    const me = (await consoleApi(url, s, 'GET', '/session')).json()
    t.equal(me.role, 'read_only')
    for (const p of ['/overview', '/caps', '/people', '/audit', '/upstreams', '/spend_report?by=user']) t.equal((await consoleApi(url, s, 'GET', p)).status, 200, `GET ${p}`)
    const made = await consoleApi(url, s, 'POST', '/caps', { body: { scope: { type: 'organization' }, amount: '5', period: 'daily' }, csrf: me.csrf_token })
    t.equal(made.status, 403)
    t.equal(made.json().error.message, 'read-only administrators cannot change anything')
    t.equal((await consoleApi(url, s, 'POST', '/sign_out', { body: { email: DEV.email }, csrf: me.csrf_token })).status, 403)
    t.equal((await consoleApi(url, s, 'DELETE', '/caps/x', { csrf: me.csrf_token })).status, 403)
    t.equal((await admin(url, 'GET', '?scope_type=organization')).json().data.length, 0)
  })

  await t.test('signing out of the console revokes the session', async (t) => {
    const s = await consoleSignIn(url, idp, ADMIN.email)
    const csrf = (await consoleApi(url, s, 'GET', '/session')).json().csrf_token as string
    const cookie = `weir_console=${s.cookie ?? ''}`
    const out = await req(`${url}/console/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } })
    t.equal(out.status, 200)
    t.match(out.headers['set-cookie'], /^weir_console=; Max-Age=0/)
    const replay = await eventually(async () => { const r = await req(`${url}/console/api/session`, { headers: { cookie } }); return r.status === 401 ? r : null }, 'the old cookie is refused')
    t.match(replay?.json().error.message, /session has ended/)
  })

  await t.test('signing a person out everywhere ends their bearer and their console session', async (t) => {
    const victim = await consoleSignIn(url, idp, READER.email)
    t.equal((await consoleApi(url, victim, 'GET', '/session')).status, 200)
    const s = await consoleSignIn(url, idp, ADMIN.email)
    const csrf = (await consoleApi(url, s, 'GET', '/session')).json().csrf_token as string
    const r = await consoleApi(url, s, 'POST', '/sign_out', { body: { user_id: 'u-reader' }, csrf })
    t.equal(r.status, 200)
    t.match(r.json(), { type: 'sign_out', user_ids: ['u-reader'] })
    await eventually(async () => (await consoleApi(url, victim, 'GET', '/session')).status === 401, 'the read-only admin\'s console session ends')
    t.match((await admin(url, 'GET', '/audit?limit=1')).json().data[0], { action: 'principal.sign_out', actor: 'oidc:u-admin', target_id: 'u-reader' })
  })
})
