/**
 * Sign-in across workers and replicas sharing one database: per-IP rate limits counted in
 * Postgres, a flow started on one replica finished on another, sign-out (RFC 7009) honoured by
 * every worker of every replica within 2 s, refresh-token sign-out, and jwt_secret rotation.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { baseConfig, startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { approve, deviceAuthorize, type DeviceAuthorization, eventually, http, poll, refresh, sameOrigin, signIn } from '../auth/helpers/flow.js'
import { startReplica } from '../auth/helpers/replica.js'

const metrics = async (base: string, bearer: string): Promise<{ status: number, retry: string | undefined }> => {
  const r = await http(`${base}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, connection: 'close' } })
  return { status: r.status, retry: r.headers['x-should-retry'] }
}

t.test('two replicas, one database: rate limits, cross-replica flows, sign-out everywhere', async (t) => {
  const tune = (c: Record<string, any>): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
    c.rate_limits = { device_authorization: { max: 4, window_seconds: 600 }, device_verify: { max: 3, window_seconds: 600 } }
  }
  const a = await startTestGateway(t, { workers: 2, config: tune })
  const cfg = baseConfig(a.idp.issuer, a.dbUrl)
  tune(cfg)
  const b = await startReplica(t, cfg, { workers: 2 })

  // a flow started on A, approved in the browser on B, collected from A
  const da = (await deviceAuthorize(a.url)).json() as DeviceAuthorization
  const viaB = { ...da, verification_uri_complete: da.verification_uri_complete.replace(a.url, b.url) }
  const { page } = await approve(b.url, viaB)
  t.equal(page.status, 200, 'replica B finishes a grant replica A issued')
  const tok = await poll(a.url, da.device_code)
  t.equal(tok.status, 200)
  const { access_token: bearer, refresh_token: rt } = tok.json()

  // device authorization: 4 per window per address, counted across both replicas (1 used above)
  t.equal((await deviceAuthorize(b.url)).status, 200)
  t.equal((await deviceAuthorize(a.url)).status, 200)
  t.equal((await deviceAuthorize(b.url)).status, 200)
  const limited = await deviceAuthorize(a.url)
  t.equal(limited.status, 429, 'the fifth request from this address, on either replica, is refused')
  t.equal(limited.json().error, 'slow_down')
  t.ok(Number(limited.headers['retry-after']) > 500, 'Retry-After says when the window ends')
  t.equal(limited.headers['cache-control'], 'no-store')
  t.equal((await deviceAuthorize(b.url)).status, 429)

  // /device: 3 per window per address (1 used above by the browser on B)
  const post = (base: string): ReturnType<typeof http> => http(`${base}/device`, { headers: sameOrigin(base), form: { user_code: 'BCDF-GHJK' } })
  t.equal((await post(a.url)).status, 200)
  t.equal((await post(b.url)).status, 200)
  const slow = await post(a.url)
  t.equal(slow.status, 429)
  t.match(slow.text, /Too many attempts/)
  t.match(slow.headers['content-type'], /text\/html/)
  t.ok(Number(slow.headers['retry-after']) > 0)

  // sign-out: the bearer works everywhere, then is refused everywhere within 2 s
  for (const base of [a.url, b.url]) t.equal((await metrics(base, bearer)).status, 200)
  const started = Date.now()
  const rv = await http(`${a.url}/oauth/revoke`, { headers: { 'user-agent': 'claude-code/2.1.328' }, form: { token: bearer } })
  t.equal(rv.status, 200)
  t.equal(rv.text, '')
  const refusedEverywhere = async (): Promise<boolean> => {
    for (const base of [a.url, a.url, a.url, a.url, b.url, b.url, b.url, b.url]) {
      const r = await metrics(base, bearer)
      if (r.status !== 401 || r.retry !== 'false') return false
    }
    return true
  }
  t.ok(await eventually(refusedEverywhere, 2000, 25), 'every worker of both replicas answers 401 + x-should-retry: false')
  t.ok(Date.now() - started <= 2500, `within about 2 s (took ${Date.now() - started} ms)`)
  t.equal((await http(`${b.url}/oauth/revoke`, { form: { token: bearer } })).status, 200, 'revoking twice is fine')

  // signing out the access token ended its sign-in: its refresh token is refused on either replica
  const ended = await refresh(b.url, rt)
  t.equal(ended.status, 401, 'revoking the access token revokes its session family')
  t.same(ended.json(), { error: 'invalid_grant' })
  // refresh-token sign-out: refused at Weir, and revoked at the IdP
  const rv2 = await http(`${b.url}/oauth/revoke`, { form: { token: rt, token_type_hint: 'refresh_token' } })
  t.equal(rv2.status, 200)
  const after = await refresh(a.url, rt)
  t.equal(after.status, 401)
  t.same(after.json(), { error: 'invalid_grant' })
  const atIdp = await http(`${a.idp.issuer}/token`, { form: { grant_type: 'refresh_token', refresh_token: rt, client_id: 'weir-test', client_secret: 'weir-test-secret' } })
  t.equal(atIdp.json().error, 'invalid_grant', 'the IdP revoked it too')

  // malformed revocations
  t.equal((await http(`${a.url}/oauth/revoke`, { form: { token_type_hint: 'access_token' } })).json().error, 'invalid_request')
  t.equal((await http(`${a.url}/oauth/revoke`, { form: { token: 'a.b.c' } })).status, 200, 'unknown tokens: 200 (RFC 7009)')

  // a replica that starts later learns the revocations from the database
  const c = await startReplica(t, cfg)
  t.same(await metrics(c.url, bearer), { status: 401, retry: 'false' })
})

t.test('jwt_secret rotation: new secret first keeps old sessions; dropping the old one ends them', async (t) => {
  const OLD = TEST_SECRET
  const NEW = 'new-secret-abcdefghijklmnopqrstuvwxyz012345'
  const kid = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16)
  const header = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString('utf8'))

  const one = await startTestGateway(t)
  const before = (await signIn(one.url)).token.json().access_token as string
  t.equal(header(before).kid, kid(OLD))
  await one.gw.stop()

  t.test('rotated', async (t) => {
    const two = await startTestGateway(t, { idp: one.idp, dbUrl: one.dbUrl, config: (c) => { c.session.jwt_secret = [NEW, OLD] } })
    t.equal((await metrics(two.url, before)).status, 200, 'a token signed with the old secret still works')
    const after = (await signIn(two.url)).token.json().access_token as string
    t.equal(header(after).kid, kid(NEW), 'new tokens are signed with the first secret')
    t.equal((await metrics(two.url, after)).status, 200)
  })
  t.test('old secret removed', async (t) => {
    const three = await startTestGateway(t, { idp: one.idp, dbUrl: one.dbUrl, config: (c) => { c.session.jwt_secret = [NEW] } })
    t.same(await metrics(three.url, before), { status: 401, retry: 'false' })
  })
})
