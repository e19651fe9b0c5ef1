/**
 * Who may sign in, and what the session says about them: email_verified, allowed_email_domains,
 * allowed_groups (at sign-in and again at refresh), claim mapping (email_claim fallback list,
 * groups_claim JSON Pointer, user_id_claim), userinfo fallback against an IdP that sends thin
 * id_tokens, and the id_token checks (nonce, PKCE, signing algorithm) — all through the real
 * browser flow against oidc-provider.
 */
import t from 'tap'
import { startTestGateway } from '../helpers/gateway.js'
import { approve, deviceAuthorize, type DeviceAuthorization, poll, refresh, signIn } from '../auth/helpers/flow.js'
import type { DevUser } from '../../lib/dev/idp.js'

const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

const USERS: DevUser[] = [
  { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] },
  { sub: 'u-bob', email: 'bob@corp.example', name: 'Bob', groups: ['eng'] },
  { sub: 'u-carol', email: 'carol@example.com', name: 'Carol', groups: ['eng'], email_verified: false },
  { sub: 'u-dave', email: 'dave@example.com', name: 'Dave', groups: ['sales'] },
  { sub: 'u-erin', email: 'erin@example.com', name: 'Erin', groups: ['eng'], email_verified: 'false' },
]

t.test('email_verified, allowed_email_domains and allowed_groups, at sign-in and at refresh', async (t) => {
  const g = await startTestGateway(t, {
    users: USERS,
    config: (c) => { c.oidc.allowed_email_domains = ['@Example.com']; c.oidc.allowed_groups = ['eng'] },
  })
  const attempt = async (email: string): Promise<{ status: number, text: string, poll: Record<string, unknown> }> => {
    g.idp.setUser(email)
    const r = await signIn(g.url)
    return { status: r.page.status, text: r.page.text, poll: r.token.json() }
  }
  const ok = await attempt('alice@example.com')
  t.equal(ok.status, 200)
  t.match(ok.poll, { token_type: 'Bearer', email: 'alice@example.com' })

  for (const [email, why] of [
    ['carol@example.com', /not verified/],
    ['erin@example.com', /not verified/],
    ['bob@corp.example', /corp\.example may not use/],
    ['dave@example.com', /not in a group/],
  ] as const) {
    const r = await attempt(email)
    t.equal(r.status, 403, `${email} refused`)
    t.match(r.text, why)
    t.same(r.poll, { error: 'access_denied' }, `${email}: the CLI is told access_denied`)
  }

  // refresh re-runs every check against what the IdP says now
  g.idp.setUser('alice@example.com')
  const rt = ok.poll.refresh_token as string
  t.equal((await refresh(g.url, rt)).status, 200)
  g.idp.upsertUser({ ...USERS[0] as DevUser, groups: ['sales'] })
  const moved = await refresh(g.url, rt)
  t.equal(moved.status, 401, 'left the allowed group: refresh refused')
  t.same(moved.json(), { error: 'invalid_grant' })
  g.idp.upsertUser({ ...USERS[0] as DevUser, email_verified: false })
  t.equal((await refresh(g.url, rt)).status, 401, 'email no longer verified: refresh refused')
  g.idp.upsertUser(USERS[0] as DevUser)
  t.equal((await refresh(g.url, rt)).status, 200, 'back in order: refresh works again')
})

t.test('claim mapping: email_claim fallback list, groups_claim pointer, user_id_claim', async (t) => {
  const users: DevUser[] = [
    { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', extra: { oid: 'oid-alice', work_email: 'alice@work.example', realm_access: { roles: ['r1', 'r2'] } } },
    { sub: 'u-bob', email: 'bob@example.com', name: 'Bob', extra: { realm_access: { roles: 'solo' } } },
  ]
  const g = await startTestGateway(t, {
    users,
    config: (c) => { c.oidc.email_claim = ['work_email', 'email']; c.oidc.groups_claim = '/realm_access/roles'; c.oidc.user_id_claim = 'oid' },
  })
  const a = await signIn(g.url)
  t.equal(a.page.status, 200)
  const claims = decode(a.token.json().access_token)
  t.match(claims, { sub: 'oid-alice', email: 'alice@work.example', groups: ['r1', 'r2'] })
  t.equal(a.token.json().email, 'alice@work.example')

  g.idp.setUser('bob@example.com')
  const b = await signIn(g.url)
  t.equal(b.page.status, 502, 'no oid claim: the sign-in cannot complete')
  t.same(b.token.json(), { error: 'access_denied' })
})

t.test('userinfo fallback fills what a thin id_token lacks', async (t) => {
  const { startDevIdp } = await import('../../lib/dev/idp.js')
  const idp = await startDevIdp({
    users: [{ sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] }],
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }],
    thinIdToken: true,
  })
  t.teardown(() => idp.close())
  t.test('with userinfo_fallback', async (t) => {
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.userinfo_fallback = true; c.oidc.allowed_groups = ['eng'] } })
    const r = await signIn(g.url)
    t.equal(r.page.status, 200)
    t.match(decode(r.token.json().access_token), { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] })
    const again = await refresh(g.url, r.token.json().refresh_token)
    t.match(decode(again.json().access_token), { email: 'alice@example.com', groups: ['eng'] }, 'and at refresh')
  })
  t.test('without it, the id_token is all there is', async (t) => {
    const g = await startTestGateway(t, { idp })
    const r = await signIn(g.url)
    t.equal(r.page.status, 200)
    const claims = decode(r.token.json().access_token)
    t.equal(claims.sub, 'u-alice')
    t.notOk('email' in claims)
    t.notOk('groups' in claims)
    t.notOk('email' in r.token.json(), 'no email to confirm in the token response either')
  })
})

t.test('nonce, PKCE and the id_token signing algorithm are enforced', async (t) => {
  const { startDevIdp } = await import('../../lib/dev/idp.js')
  const idp = await startDevIdp({
    users: [{ sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] }],
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }],
    requirePkce: true,
  })
  t.teardown(() => idp.close())
  t.test('PKCE on (default) against an IdP that requires it', async (t) => {
    const g = await startTestGateway(t, { idp })
    t.equal((await signIn(g.url)).token.status, 200, 'the verifier sealed in state matches the challenge')
    const fresh = async (): Promise<DeviceAuthorization> => (await deviceAuthorize(g.url)).json()

    const d1 = await fresh()
    const nonce = await approve(g.url, d1, { tamper: (u) => { u.searchParams.set('nonce', 'not-the-one-weir-sent') } })
    t.equal(nonce.page.status, 502, 'an id_token for another nonce is refused')
    t.same((await poll(g.url, d1.device_code)).json(), { error: 'access_denied' })

    const d2 = await fresh()
    const pkce = await approve(g.url, d2, { tamper: (u) => { u.searchParams.set('code_challenge', 'A'.repeat(43)) } })
    t.equal(pkce.page.status, 502, 'a code bound to another challenge cannot be exchanged')
    t.same((await poll(g.url, d2.device_code)).json(), { error: 'access_denied' })
  })
  t.test('use_pkce: false sends no challenge', async (t) => {
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.use_pkce = false } })
    const da = (await deviceAuthorize(g.url)).json() as DeviceAuthorization
    const r = await approve(g.url, da)
    t.notOk(new URL(r.confirm.headers.location as string).searchParams.has('code_challenge'))
    t.equal(r.page.status, 400, 'this IdP requires PKCE, so it refuses')
    t.match(r.page.text, /invalid_request/)
  })
  t.test('id_token_signed_response_alg other than the IdP uses', async (t) => {
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.id_token_signed_response_alg = 'ES256' } })
    const r = await signIn(g.url)
    t.equal(r.page.status, 502)
    t.same(r.token.json(), { error: 'access_denied' })
  })
})
