/**
 * The device flow end to end, driven exactly as Claude Code and a browser drive it, against a real
 * gateway, a real OIDC provider (oidc-provider) and real Postgres: the happy path and its exact
 * shapes, single use, deny, expiry, slow_down, the same-origin rule, bad requests, login_notice,
 * and the refresh grant.
 */
import { createHash } from 'node:crypto'
import postgres from 'postgres'
import t from 'tap'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { approve, Browser, deviceAuthorize, type DeviceAuthorization, http, poll, refresh, sameOrigin, signIn } from '../auth/helpers/flow.js'

const decode = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8'))

t.test('device flow as the CLI drives it: shapes, bearer accepted, single use, refresh', async (t) => {
  const g = await startTestGateway(t, { config: (c) => { c.login_notice = 'Use of this gateway is logged.' } })
  const base = g.url

  const r = await deviceAuthorize(base)
  t.equal(r.status, 200)
  t.equal(r.headers['cache-control'], 'no-store')
  t.equal(r.headers.pragma, 'no-cache')
  t.match(r.headers['content-type'], /^application\/json/)
  const da = r.json() as DeviceAuthorization
  t.same(Object.keys(da), ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval', 'login_notice'])
  t.match(da.device_code, /^[A-Za-z0-9_-]{43}$/, '256-bit base64url device code')
  t.match(da.user_code, /^[BCDFGHJKMNPQRSTVWXYZ]{4}-[BCDFGHJKMNPQRSTVWXYZ]{4}$/)
  t.equal(da.verification_uri, `${base}/device`)
  t.equal(da.verification_uri_complete, `${base}/device?user_code=${da.user_code}`)
  t.equal(da.expires_in, 600)
  t.equal(da.interval, 5)
  t.equal(da.login_notice, 'Use of this gateway is logged.')

  t.same((await poll(base, da.device_code)).json(), { error: 'authorization_pending' })

  const b = new Browser()
  const page = await b.go(da.verification_uri_complete)
  t.equal(page.status, 200)
  t.match(page.headers['content-security-policy'], /default-src 'none'/)
  t.match(page.headers['content-security-policy'], new RegExp(`form-action 'self' ${g.idp.issuer}(;| )`))
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.text, `value="${da.user_code}"`, 'the code is shown for confirmation')
  t.notMatch(page.text, /<script/i, 'no script: nothing submits the form on its own')
  t.match(page.text, 'Use of this gateway is logged.')

  const { page: done } = await approve(base, da, { browser: b })
  t.equal(done.status, 200, 'the callback page')
  t.match(done.text, /signed in/)
  t.match(done.headers['content-security-policy'], /script-src 'nonce-[A-Za-z0-9_-]+'/)
  t.ok(done.cookies.some((c) => /^gw_dev=; Max-Age=0/.test(c)), 'the browser cookie is cleared')

  const tok = await poll(base, da.device_code)
  t.equal(tok.status, 200, 'device grant completes')
  t.equal(tok.headers['cache-control'], 'no-store')
  const body = tok.json()
  t.same(Object.keys(body), ['access_token', 'token_type', 'expires_in', 'refresh_token', 'email'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 3600)
  t.equal(body.email, 'alice@example.com')
  const header = JSON.parse(Buffer.from(body.access_token.split('.')[0], 'base64url').toString('utf8'))
  t.same(header, { alg: 'HS256', typ: 'JWT', kid: createHash('sha256').update(TEST_SECRET).digest('hex').slice(0, 16) })
  const claims = decode(body.access_token)
  t.same(Object.keys(claims), ['sub', 'email', 'name', 'groups', 'aud', 'iat', 'exp', 'jti'])
  t.match(claims, { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'], aud: 'claude-gateway' })
  t.equal((claims.exp as number) - (claims.iat as number), 3600)

  const used = await http(`${base}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${body.access_token}` } })
  t.equal(used.status, 200, 'the bearer works on a bearer endpoint')
  t.same((await poll(base, da.device_code)).json(), { error: 'expired_token' }, 'a device code is good for one token only')

  const sql = postgres(g.dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  const [who] = await sql`select email, name, groups from principal_emails where principal = 'u-alice'`
  t.same(who, { email: 'alice@example.com', name: 'Alice', groups: ['eng'] }, 'the sign-in is recorded in principal_emails')

  const ref = await refresh(base, body.refresh_token)
  t.equal(ref.status, 200, 'refresh grant')
  const rb = ref.json()
  t.same(Object.keys(rb), ['access_token', 'token_type', 'expires_in', 'refresh_token'])
  t.equal(rb.refresh_token, body.refresh_token, 'the IdP kept the refresh token, so it is passed back')
  g.idp.upsertUser({ sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng', 'admins'] })
  const ref2 = await refresh(base, body.refresh_token)
  t.same(decode(ref2.json().access_token).groups, ['eng', 'admins'], 'group changes take effect at refresh')

  g.idp.disable('u-alice')
  const gone = await refresh(base, body.refresh_token)
  t.equal(gone.status, 401, 'the IdP refuses an offboarded account: the CLI must sign in again')
  t.same(gone.json(), { error: 'invalid_grant' })
  t.equal(gone.headers['cache-control'], 'no-store')
})

t.test('deny, expiry, slow_down, same-origin rule, unknown codes, bad requests', async (t) => {
  const g = await startTestGateway(t)
  const base = g.url
  const fresh = async (): Promise<DeviceAuthorization> => (await deviceAuthorize(base)).json() as DeviceAuthorization

  // deny from the confirmation page
  const d1 = await fresh()
  const b = new Browser()
  await b.go(d1.verification_uri_complete)
  const denied = await b.go(`${base}/device/deny`, { headers: sameOrigin(base), form: { user_code: d1.user_code } })
  t.equal(denied.status, 200)
  t.match(denied.text, /Sign-in stopped/)
  t.same((await poll(base, d1.device_code)).json(), { error: 'access_denied' })
  t.same((await poll(base, d1.device_code)).json(), { error: 'expired_token' }, 'a denied grant is gone after it was reported')
  const again = await b.go(`${base}/device`, { headers: sameOrigin(base), form: { user_code: d1.user_code } })
  t.match(again.text, /not recognized/, 'the user code stops working once decided')
  const twice = await b.go(`${base}/device/deny`, { headers: sameOrigin(base), form: { user_code: d1.user_code } })
  t.match(twice.text, /Nothing to approve/, 'denying a decided code says there is nothing to deny')
  t.equal((await http(`${base}/device/deny`, { headers: { 'sec-fetch-site': 'cross-site' }, form: { user_code: d1.user_code } })).status, 403)

  // the IdP says no
  const d2 = await fresh()
  g.idp.denyNext()
  const { page } = await approve(base, d2)
  t.equal(page.status, 400)
  t.match(page.text, /access_denied/)
  t.same((await poll(base, d2.device_code)).json(), { error: 'access_denied' }, 'declining at the IdP stops the CLI too')

  // slow_down: two polls inside the interval
  const d3 = await fresh()
  t.same((await poll(base, d3.device_code)).json(), { error: 'authorization_pending' })
  const fast = await poll(base, d3.device_code)
  t.equal(fast.status, 429)
  t.same(fast.json(), { error: 'slow_down' })

  // expiry (time passes in the database)
  const sql = postgres(g.dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  await sql`update kv set expires_at = now() - interval '1 second' where key like 'device:%'`
  t.same((await poll(base, d3.device_code)).json(), { error: 'expired_token' })
  const late = await new Browser().go(`${base}/device`, { headers: sameOrigin(base), form: { user_code: d3.user_code } })
  t.match(late.text, /not recognized/)

  // same-origin rule on POST /device
  const d4 = await fresh()
  const cross = await http(`${base}/device`, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, form: { user_code: d4.user_code } })
  t.equal(cross.status, 403)
  t.match(cross.text, /another site/)
  t.notOk(cross.headers.location)
  const noHeaders = await http(`${base}/device`, { form: { user_code: d4.user_code } })
  t.equal(noHeaders.status, 403, 'no Sec-Fetch-Site and no Origin: refused')
  const originOnly = await http(`${base}/device`, { headers: { origin: base }, form: { user_code: d4.user_code } })
  t.equal(originOnly.status, 302, 'an exact Origin is enough without Sec-Fetch-Site')
  t.match(originOnly.cookies[0], /^gw_dev=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/)
  const loc = new URL(originOnly.headers.location as string)
  t.equal(loc.origin, g.idp.issuer)
  t.match(Object.fromEntries(loc.searchParams), {
    client_id: 'weir-test', response_type: 'code', redirect_uri: `${base}/oauth/callback`, scope: 'openid profile email offline_access',
    code_challenge_method: 'S256', response_mode: 'query',
  })
  t.match(loc.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
  t.match(loc.searchParams.get('nonce'), /^[A-Za-z0-9_-]{43}$/)
  const typo = await http(`${base}/device`, { headers: sameOrigin(base), form: { user_code: 'BCDF-GHJK' } })
  t.equal(typo.status, 200)
  t.match(typo.text, /not recognized/)
  t.match((await http(`${base}/device`, { headers: sameOrigin(base), form: { user_code: d4.user_code.toLowerCase().replace('-', ' ') } })).status, 302, 'codes match regardless of case and separators')
  t.match((await http(`${base}/device`)).text, /Enter your code/)

  // the callback without state, with a forged state, or from another browser
  t.match((await http(`${base}/oauth/callback?code=x`)).text, /expired/)
  t.match((await http(`${base}/oauth/callback?code=x&state=forged`)).text, /expired/)
  const d5 = await fresh()
  const { page: other } = await approve(base, d5, { beforeCallback: (_cb, br) => { br.dropCookies(base) } })
  t.equal(other.status, 400)
  t.match(other.text, /another browser/)
  t.same((await poll(base, d5.device_code)).json(), { error: 'authorization_pending' }, 'a callback from another browser decides nothing')

  // malformed token requests
  const tok = (form: string, ct = 'application/x-www-form-urlencoded'): ReturnType<typeof http> =>
    http(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': ct }, form })
  t.same((await tok('grant_type=password')).json(), { error: 'unsupported_grant_type' })
  t.same((await tok('')).json(), { error: 'unsupported_grant_type' })
  const noCode = await tok('grant_type=urn:ietf:params:oauth:grant-type:device_code')
  t.equal(noCode.status, 400)
  t.equal(noCode.json().error, 'invalid_request')
  t.equal((await tok('{"grant_type":"refresh_token"}', 'application/json')).json().error, 'invalid_request')
  t.equal((await tok('grant_type=refresh_token')).json().error, 'invalid_request')
  t.same((await tok('grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=nope&client_id=x&extra=1')).json(), { error: 'expired_token' })
  const junkRefresh = await refresh(base, 'not-a-refresh-token')
  t.equal(junkRefresh.status, 401)
  t.same(junkRefresh.json(), { error: 'invalid_grant' })

  // device authorization ignores its form (and needs none)
  const bare = await http(`${base}/oauth/device_authorization`, { method: 'POST' })
  t.equal(bare.status, 200)
  const extra = await http(`${base}/oauth/device_authorization`, { form: { client_id: 'whatever', scope: 'openid', surface: 'x' } })
  t.equal(extra.status, 200)
  t.notOk('login_notice' in extra.json(), 'no login_notice unless configured')
  t.equal((await http(`${base}/oauth/device_authorization`)).status, 405)
})

t.test('a full sign-in twice in a row, and the discovery document still advertises the endpoints', async (t) => {
  const g = await startTestGateway(t)
  const one = await signIn(g.url)
  const two = await signIn(g.url)
  t.equal(one.token.status, 200)
  t.equal(two.token.status, 200)
  t.not(one.da.device_code, two.da.device_code)
  const d = (await http(`${g.url}/.well-known/oauth-authorization-server`)).json()
  t.equal(d.device_authorization_endpoint, `${g.url}/oauth/device_authorization`)
  t.equal(d.token_endpoint, `${g.url}/oauth/token`)
  t.equal(d.revocation_endpoint, `${g.url}/oauth/revoke`)
})

t.test('behind a proxy with an https public_url: __Host- cookie, public URLs, iss claim', async (t) => {
  const { startDevIdp } = await import('../../lib/dev/idp.js')
  const pub = 'https://gw.example.test'
  const idp = await startDevIdp({
    users: [{ sub: 'u-alice', email: 'alice@example.com', name: 'Alice' }],
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: [`${pub}/oauth/callback`] }],
  })
  t.teardown(() => idp.close())
  const g = await startTestGateway(t, { idp, config: (c) => { c.listen.public_url = pub } })
  const da = (await deviceAuthorize(g.url)).json() as DeviceAuthorization
  t.equal(da.verification_uri, `${pub}/device`)
  t.equal(da.verification_uri_complete, `${pub}/device?user_code=${da.user_code}`)
  const local = { ...da, verification_uri_complete: `${g.url}/device?user_code=${da.user_code}` }
  const crossByOrigin = await http(`${g.url}/device`, { headers: { origin: g.url }, form: { user_code: da.user_code } })
  t.equal(crossByOrigin.status, 403, 'Origin must be the public URL')
  const r = await approve(g.url, local, { publicUrl: pub })
  t.match(r.confirm.cookies[0], /^__Host-gw_dev=[\w-]{43}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
  t.equal(new URL(r.confirm.headers.location as string).searchParams.get('redirect_uri'), `${pub}/oauth/callback`)
  t.equal(r.page.status, 200)
  t.ok(r.page.cookies.some((c) => /^__Host-gw_dev=; Max-Age=0;.*Secure/.test(c)))
  const tok = (await poll(g.url, da.device_code)).json()
  t.equal(decode(tok.access_token).iss, pub, 'the token names the public URL as issuer')
  t.equal((await http(`${g.url}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${tok.access_token}` } })).status, 200)
})
