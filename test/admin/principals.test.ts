/**
 * The admin API's guard on user caps and Weir's people extensions, over real sockets with a real
 * gateway, Postgres and OIDC provider: a user_id no principal was ever seen with is refused unless
 * forced (with a hint when it is an email), `scope.email` resolves to the one subject seen with it
 * (ambiguous ones are refused, listing the subjects), the principals lookup, the spend report, and
 * signing a person out everywhere (every token and every sign-in's refresh grant).
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { eventually as soon, refresh, signIn } from '../auth/helpers/flow.js'
import { TEST_SECRET } from '../helpers/gateway.js'
import { READ_KEY, WRITE_KEY, admin, eventually, oneCentUpstream, post } from '../integration/spend-helpers.js'
import { spendGateway } from '../integration/spend-helpers.js'
import { req, type Res } from '../helpers/http.js'

const DEV = { sub: 'u-dev', email: 'dev@example.com', name: 'Dev', groups: ['eng'] }

/** A session token with a chosen email (the spend helpers' bearer() derives it from the subject). */
const tokenFor = (sub: string, email: string, groups: string[] = ['eng']): string =>
  mintToken(keyRing([TEST_SECRET]), { sub, email, name: sub, groups }, { ttlHours: 1 }).token

const principals = async (url: string, query: string, key = WRITE_KEY): Promise<Res> =>
  await req(`${url}/v1/organizations/principals${query}`, { headers: { 'x-api-key': key } })

const signOut = async (url: string, body: unknown, key = WRITE_KEY): Promise<Res> =>
  await req(`${url}/v1/organizations/principals/sign_out`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) })

t.test('people in the admin API', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url } = await spendGateway(t, fake, { users: [DEV] })
  const msg = (r: Res): string => r.json().error?.message

  // Three developers make one metered request each; two of them share an email (an IdP migration).
  t.equal((await post(url, tokenFor('u-alice', 'Alice@Example.com'))).status, 200)
  t.equal((await post(url, tokenFor('u-old', 'shared@example.com'))).status, 200)
  t.equal((await post(url, tokenFor('u-new', 'shared@example.com', ['ops']))).status, 200)
  await eventually(async () => (await principals(url, '?email=shared@example.com')).json().data.length === 2, 'principals recorded')

  await t.test('a user_id nobody was seen with is refused unless forced', async (t) => {
    const r = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-typo' }, amount: '500' })
    t.equal(r.status, 400)
    t.same(r.json(), {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'scope.user_id: no principal Weir has seen has the subject \'u-typo\'. To set a cap for someone who has not signed in yet, add "force": true' },
      request_id: r.headers['request-id'],
    })
    t.equal((await admin(url, 'GET', '?scope_type=user')).json().data.length, 0, 'nothing was written')
    const email = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'nobody@example.com' }, amount: '500' })
    t.match(msg(email), /^scope\.user_id: no principal Weir has seen has the subject 'nobody@example\.com'; it looks like an email: caps key on the IdP subject \(the sub claim\), so send the email as scope\.email instead\./)
    const known = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'alice@example.com' }, amount: '500' })
    t.match(msg(known), /; it is the email of 'u-alice': caps key on the IdP subject, so send that as scope\.user_id, or the email as scope\.email\./)
    const forced = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-later' }, amount: '500', force: true })
    t.equal(forced.status, 200, 'force sets a cap for someone not seen yet')
    t.same(forced.json().scope, { type: 'user', user_id: 'u-later' })
    t.equal((await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-alice' }, amount: '700' })).status, 200, 'a seen subject needs no force')
    t.equal(msg(await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-alice' }, amount: '700', force: 'yes' })), 'force: must be true or false')
    const log = (await admin(url, 'GET', '/audit?limit=1')).json().data[0]
    t.match(log, { action: 'spend_limit.upsert', after: { scope: { type: 'user', user_id: 'u-alice' }, amount: '700' } })
  })

  await t.test('scope.email resolves to the one subject seen with it, case-insensitively', async (t) => {
    const r = await admin(url, 'POST', '', { scope: { type: 'user', email: 'ALICE@example.COM' }, amount: '1210', period: 'daily' })
    t.equal(r.status, 200)
    t.match(r.json(), { type: 'spend_limit', scope: { type: 'user', user_id: 'u-alice' }, amount: '1210', period: 'daily' })
    t.notOk('email' in r.json().scope, 'the stored scope is the subject, as the Admin API shape has it')
    const ambiguous = await admin(url, 'POST', '', { scope: { type: 'user', email: 'shared@example.com' }, amount: '5' })
    t.equal(msg(ambiguous), "scope.email: 'shared@example.com' matches 2 subjects ('u-new', 'u-old'); give the one you mean as scope.user_id")
    const unknown = await admin(url, 'POST', '', { scope: { type: 'user', email: 'ghost@example.com' }, amount: '5', force: true })
    t.match(msg(unknown), /^scope\.email: no principal Weir has seen has the email 'ghost@example\.com'/, 'force cannot invent a subject for an email')
    t.equal(msg(await admin(url, 'POST', '', { scope: { type: 'user', email: 'a@b', user_id: 'u-alice' }, amount: '5' })), 'scope: give user_id or email, not both')
    t.equal(msg(await admin(url, 'POST', '', { scope: { type: 'user', email: 'not an email' }, amount: '5' })), 'scope.email: must be an email address (name@domain)')
    const effective = (await admin(url, 'GET', '/effective?user_ids[]=u-alice&period[]=daily')).json().data[0]
    t.match(effective, { amount: '1210', source: { type: 'user', user_id: 'u-alice' } }, 'the cap applies to the subject')
  })

  await t.test('principals lookup by email or subject', async (t) => {
    const shared = (await principals(url, '?email=SHARED@example.com', READ_KEY)).json()
    t.same(shared.data.map((p: { user_id: string }) => p.user_id), ['u-new', 'u-old'])
    t.match(shared.data[0], { type: 'principal', user_id: 'u-new', email: 'shared@example.com', name: 'u-new', groups: ['ops'], first_seen_at: /Z$/, last_seen_at: /Z$/ })
    t.same((await principals(url, '?user_id=u-alice')).json().data.map((p: { email: string }) => p.email), ['Alice@Example.com'])
    t.same((await principals(url, '?email=ghost@example.com')).json().data, [])
    t.equal(msg(await principals(url, '')), 'give exactly one of email or user_id')
    t.equal(msg(await principals(url, '?email=a@b&user_id=x')), 'give exactly one of email or user_id')
    t.equal((await principals(url, '?email=a@b', 'x'.repeat(40))).status, 401)
    t.equal((await req(`${url}/v1/organizations/principals/nope`, { headers: { 'x-api-key': WRITE_KEY } })).status, 404)
  })

  await t.test('spend report by user, group and model', async (t) => {
    const report = async (q: string): Promise<any> => (await req(`${url}/v1/organizations/spend_report${q}`, { headers: { 'x-api-key': READ_KEY } })).json() // eslint-disable-line @typescript-eslint/no-explicit-any
    await eventually(async () => (await report('?by=model')).data[0]?.spend === '3', 'model ledger written')
    const users = await report('?by=user&period=daily')
    t.match(users, { type: 'spend_report', by: 'user', period: 'daily', bucket: /^\d{4}-\d{2}-\d{2}$/, currency: 'USD', has_more: false, total: { spend: '3', micro_cents: '3000000' } })
    t.same(users.data.map((x: { key: string, spend: string }) => [x.key, x.spend]), [['u-alice', '1'], ['u-new', '1'], ['u-old', '1']])
    t.equal(users.data[0].email, 'Alice@Example.com')
    t.same((await report('?by=group')).data.map((x: { key: string, micro_cents: string }) => [x.key, x.micro_cents]), [['eng', '2000000'], ['ops', '1000000']])
    t.same((await report('?by=model&period=weekly')).data, [{ key: 'claude-haiku-4-5', spend: '3', micro_cents: '3000000' }])
    t.same((await report('?by=user&bucket=2001-01')).data, [], 'an old bucket is empty')
    t.equal((await report('?by=user&limit=1')).has_more, true)
    t.equal((await report('?by=team')).error.message, 'by: must be one of user, group, model')
    t.equal((await report('?by=user&period=daily&bucket=2026-12')).error.message, 'bucket: a daily bucket is spelled YYYY-MM-DD')
  })

  await t.test('sign a person out everywhere: every token, every sign-in\'s refresh grant', async (t) => {
    const a = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    const b = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    t.equal((await post(url, a.access_token)).status, 200)
    t.equal((await post(url, b.access_token)).status, 200)
    const ro = await signOut(url, { email: 'dev@example.com' }, READ_KEY)
    t.equal(ro.status, 403, 'a read key may not sign people out')
    t.equal(msg(await signOut(url, { email: 'ghost@example.com' })), "no principal Weir has seen has the email 'ghost@example.com'")
    t.equal(msg(await signOut(url, { user_id: 'u-typo' })), "no principal Weir has seen has the subject 'u-typo'")
    t.equal(msg(await signOut(url, {})), 'give exactly one of user_id or email')
    const r = await signOut(url, { email: 'DEV@example.com' })
    t.equal(r.status, 200)
    t.match(r.json(), { type: 'sign_out', user_ids: ['u-dev'], sign_ins_ended: 2, not_before: /Z$/ })
    t.equal((await post(url, a.access_token)).status, 401, 'the first sign-in\'s token is refused at once on this replica')
    t.equal((await post(url, b.access_token)).status, 401, 'and the second\'s')
    t.equal((await refresh(url, a.refresh_token)).status, 401, 'neither sign-in can refresh')
    t.equal((await refresh(url, b.refresh_token)).status, 401)
    t.equal((await post(url, tokenFor('u-alice', 'alice@example.com'))).status, 200, 'other people are untouched')
    const log = (await admin(url, 'GET', '/audit?limit=1')).json().data[0]
    t.match(log, { action: 'principal.sign_out', target_id: 'u-dev', actor: 'admin-key:terraform', after: { sign_ins_ended: 2 } })
    // Tokens minted in the second of the sign-out are refused too; a sign-in after it works.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const c = (await signIn(url)).token.json() as { access_token: string }
    t.ok(await soon(async () => (await post(url, c.access_token)).status === 200, 5000), 'signing in again afterwards works')
    const both = await signOut(url, { email: 'shared@example.com' })
    t.same(both.json().user_ids, ['u-new', 'u-old'], 'an email seen with several subjects signs each of them out')
  })
})
