/**
 * The admin API over real sockets: credentials, the Anthropic error envelope with request ids,
 * validation, upsert semantics and audit, pooled budgets, list/audit pagination, /effective.
 */
import t from 'tap'
import { req } from '../helpers/http.js'
import { READ_KEY, admin, bearer, eventually, oneCentUpstream, post, setCap, spendGateway } from '../integration/spend-helpers.js'

const RID = /^req_[0-9a-f]{32}$/

t.test('admin API', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url, dbUrl } = await spendGateway(t, fake)
  void dbUrl

  await t.test('credentials: write key, read key, admin-group bearer; refusals are 401 envelopes', async (t) => {
    const none = await req(`${url}/v1/organizations/spend_limits`)
    t.equal(none.status, 401)
    t.match(none.headers['request-id'], RID)
    t.same(none.json(), { type: 'error', error: { type: 'authentication_error', message: 'missing or invalid admin credentials' }, request_id: none.headers['request-id'] })
    t.equal((await admin(url, 'GET', '', undefined, 'x'.repeat(40))).status, 401, 'unknown key')
    const dev = await req(`${url}/v1/organizations/spend_limits`, { headers: { authorization: `Bearer ${bearer('u-dev', ['eng'])}` } })
    t.equal(dev.status, 401, 'a bearer outside admin_groups')
    const keyWins = await req(`${url}/v1/organizations/spend_limits`, { headers: { authorization: `Bearer ${bearer('u-fin', ['finops'])}`, 'x-api-key': 'nope' } })
    t.equal(keyWins.status, 401, 'an x-api-key, when present, is the only credential considered')
    const fin = await req(`${url}/v1/organizations/spend_limits`, { headers: { authorization: `Bearer ${bearer('u-fin', ['finops'])}` } })
    t.equal(fin.status, 200, 'an admin-group bearer')
    t.equal(fin.headers['cache-control'], 'no-store')
    t.match(fin.headers['request-id'], RID)
    const ro = await admin(url, 'GET', '', undefined, READ_KEY)
    t.equal(ro.status, 200)
    const denied = await admin(url, 'POST', '', { scope: { type: 'organization' }, amount: '1' }, READ_KEY)
    t.equal(denied.status, 403)
    t.same(denied.json().error, { type: 'permission_error', message: 'requires write:spend_limits' })
    t.equal((await admin(url, 'DELETE', '/spl_x', undefined, READ_KEY)).status, 403)
  })

  await t.test('validation errors name the field, in the Anthropic envelope', async (t) => {
    const cases: Array<[unknown, string]> = [
      ['nope', 'invalid JSON body'],
      [[], 'request body: must be a JSON object'],
      [{ amount: '5' }, 'scope: Required'],
      [{ scope: 'user', amount: '5' }, 'scope: must be an object'],
      [{ scope: { type: 'team' }, amount: '5' }, 'scope.type: must be one of user, rbac_group, organization'],
      [{ scope: { type: 'user' }, amount: '5' }, 'scope.user_id: Required'],
      [{ scope: { type: 'rbac_group', rbac_group_id: '' }, amount: '5' }, 'scope.rbac_group_id: must be a non-empty string'],
      [{ scope: { type: 'user', user_id: 'x' }, amount: 5 }, 'amount: must be a whole-number decimal string of cents'],
      [{ scope: { type: 'user', user_id: 'x' }, amount: '1234567890123456789' }, 'amount: must be a whole-number decimal string of cents'],
      [{ scope: { type: 'user', user_id: 'x' }, amount: '5', period: 'yearly' }, 'period: must be one of daily, weekly, monthly'],
      [{ scope: { type: 'user', user_id: 'x' }, amount: '5', currency: 'EUR' }, 'currency: must be USD'],
      [{ scope: { type: 'user', user_id: 'x' } }, 'amount: Required'],
      [{ scope: { type: 'user', user_id: 'x' }, amount: '5', pooled_budget: { amount: '10' } }, 'pooled_budget: only a group (rbac_group) limit can carry a pooled budget'],
      [{ scope: { type: 'rbac_group', rbac_group_id: 'g' }, amount: '5', period: 'daily', pooled_budget: { amount: '10' } }, "pooled_budget: pooled budgets are monthly; set it on the group's monthly limit"],
      [{ scope: { type: 'rbac_group', rbac_group_id: 'g' }, pooled_budget: { amount: '10' } }, "amount: required to create a spend limit (each member's own cap; it may equal pooled_budget.amount)"],
      [{ scope: { type: 'rbac_group', rbac_group_id: 'g' }, amount: '5', pooled_budget: { paused: false } }, 'pooled_budget.amount: required unless pooled_budget.paused is true'],
    ]
    for (const [body, message] of cases) {
      const r = await admin(url, 'POST', '', body)
      t.equal(r.status, 400, message)
      t.same(r.json(), { type: 'error', error: { type: 'invalid_request_error', message }, request_id: r.headers['request-id'] })
    }
    const q = async (path: string): Promise<string> => (await admin(url, 'GET', path)).json().error?.message
    t.equal(await q('?limit=0'), 'limit: must be between 1 and 1000')
    t.equal(await q('?limit=1001'), 'limit: must be between 1 and 1000')
    t.equal(await q('?after_id=a&before_id=b'), 'after_id and before_id are mutually exclusive')
    t.equal(await q('?after_id=spl_nope'), 'after_id: no spend limit with this id')
    t.equal(await q('?scope_type=team'), 'scope_type: must be one of organization, rbac_group, user')
    t.equal(await q('/audit?after_id=x'), 'after_id: must be an audit event id')
    t.equal(await q('/effective?period[]=yearly'), 'period[]: must be one of daily, weekly, monthly')
    t.equal(await q('/effective?sort=cheap'), 'sort: must be spend_desc')
    t.equal(await q('/effective?sort=spend_desc'), 'sort=spend_desc requires exactly one period[]')
    t.equal(await q('/effective?page=zzz'), 'page: invalid page token')
    // Only a token the gateway issued is a cursor: what a lenient base64/JSON reader would let through is a 400.
    const b64 = (s: string): string => Buffer.from(s).toString('base64url')
    const good = b64('{"p":"u-a"}')
    for (const [what, page] of [
      ['trailing junk', `${good}!!`], ['padding', `${good}=`], ['the standard alphabet', Buffer.from('{"p":"u-a?>"}').toString('base64')],
      ['an extra key', b64('{"p":"u-a","x":1}')], ['spacing in the JSON', b64('{ "p": "u-a" }')], ['an empty subject', b64('{"p":""}')],
      ['an array', b64('[]')], ['not JSON', b64('{"p":')], ['a sorted cursor in an unsorted listing', b64('{"p":"u-a","c":"5","s":true}')],
      ['an oversized token', 'A'.repeat(4096)],
    ] as const) {
      const r = await admin(url, 'GET', `/effective?page=${encodeURIComponent(page)}`)
      t.equal(r.status, 400, `${what}: 400`)
      t.same(r.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'page: invalid page token' }, request_id: r.headers['request-id'] }, `${what}: the error envelope`)
    }
    for (const [what, page] of [['a leading zero', b64('{"p":"u-a","c":"05","s":true}')], ['no spend', b64('{"p":"u-a","s":true}')]] as const) {
      t.equal((await admin(url, 'GET', `/effective?sort=spend_desc&period[]=monthly&page=${encodeURIComponent(page)}`)).status, 400, `sorted, ${what}: 400`)
    }
    t.equal((await admin(url, 'GET', `/effective?page=${good}`)).status, 200, 'a well-formed cursor still pages')
    t.equal((await admin(url, 'GET', `/effective?sort=spend_desc&period[]=monthly&page=${b64('{"p":"u-a","c":"5","s":true}')}`)).status, 200, 'and a well-formed sorted one')
    t.equal(await q(`/effective?q=${'x'.repeat(257)}`), 'q: too long')
    t.equal(await q(`/effective?${Array.from({ length: 101 }, (_, i) => `user_ids[]=u${i}`).join('&')}`), 'user_ids[]: at most 100 entries per request')
    const bad = await admin(url, 'GET', '/%zz')
    t.equal(bad.status, 400)
    t.equal(bad.json().error.message, 'malformed spend limit id')
    const missing = await admin(url, 'GET', '/spl_nope')
    t.same(missing.json().error, { type: 'not_found_error', message: 'spend limit not found' })
    t.equal((await admin(url, 'DELETE', '/spl_nope')).status, 404)
    t.equal((await admin(url, 'PUT', '')).json().error.message, 'not found')
  })

  await t.test('upsert keeps the id, bumps updated_at, and records the audit trail', async (t) => {
    const a = await admin(url, 'POST', '', { scope: { type: 'rbac_group', rbac_group_id: 'eng' }, amount: '1000' })
    t.equal(a.status, 200)
    const first = a.json()
    t.match(first, { type: 'spend_limit', id: /^spl_[0-9a-f]{32}$/, scope: { type: 'rbac_group', rbac_group_id: 'eng' }, amount: '1000', currency: 'USD', period: 'monthly', pooled_budget: null })
    t.same(Object.keys(first), ['type', 'id', 'created_at', 'updated_at', 'scope', 'amount', 'currency', 'period', 'pooled_budget'])
    const b = (await admin(url, 'POST', '', { scope: { type: 'rbac_group', rbac_group_id: 'eng' }, amount: '2000', pooled_budget: { amount: '50000' } })).json()
    t.equal(b.id, first.id, 'same (scope, period): same id')
    t.equal(b.created_at, first.created_at)
    t.ok(b.updated_at > first.updated_at)
    t.same(b.pooled_budget, { amount: '50000', paused: false, currency: 'USD', period_to_date_spend: '0' })
    const paused = (await admin(url, 'POST', '', { scope: { type: 'rbac_group', rbac_group_id: 'eng' }, pooled_budget: { paused: true } })).json()
    t.equal(paused.amount, '2000', 'amount kept when omitted')
    t.same(paused.pooled_budget, { amount: '50000', paused: true, currency: 'USD', period_to_date_spend: '0' })
    const daily = (await admin(url, 'POST', '', { scope: { type: 'organization' }, amount: null, period: 'daily' })).json()
    t.equal(daily.amount, null)
    t.notOk('pooled_budget' in daily, 'only a group monthly limit shows pooled_budget')
    t.same((await admin(url, 'GET', `/${first.id as string}`)).json(), paused)
    const log = (await admin(url, 'GET', '/audit?limit=2')).json()
    t.equal(log.has_more, true)
    t.match(log.data[0], { type: 'audit_event', id: /^\d+$/, actor: 'admin-key:terraform', action: 'spend_limit.upsert', target_id: daily.id, before: null, reason: null })
    t.match(log.data[1], { action: 'spend_limit.upsert', target_id: first.id, before: { amount: '2000', pooled_budget: { amount: '50000', paused: false } }, after: { amount: '2000', pooled_budget: { amount: '50000', paused: true } } })
    const older = (await admin(url, 'GET', `/audit?limit=2&after_id=${log.data[1].id as string}`)).json()
    t.same(older.data.map((e: { target_id: string }) => e.target_id), [first.id, first.id], 'older events, newest first')
    t.equal(older.has_more, false)
    const del = await admin(url, 'DELETE', `/${daily.id as string}`)
    t.same(del.json(), { type: 'spend_limit_deleted', id: daily.id })
    const last = (await admin(url, 'GET', '/audit?limit=1')).json().data[0]
    t.match(last, { action: 'spend_limit.delete', target_id: daily.id, before: { id: daily.id, amount: null, period: 'daily' }, after: null })
  })

  await t.test('list pagination in both directions', async (t) => {
    for (let i = 0; i < 5; i++) await admin(url, 'POST', '', { scope: { type: 'user', user_id: `p${i}` }, amount: String(i + 1), force: true })
    const all = (await admin(url, 'GET', '?scope_type=user&limit=100')).json()
    t.equal(all.data.length, 5)
    const ids = all.data.map((x: { id: string }) => x.id)
    const p1 = (await admin(url, 'GET', '?scope_type=user&limit=2')).json()
    t.same([p1.data.map((x: { id: string }) => x.id), p1.has_more, p1.first_id, p1.last_id], [ids.slice(0, 2), true, ids[0], ids[1]])
    const p2 = (await admin(url, 'GET', `?scope_type=user&limit=2&after_id=${p1.last_id as string}`)).json()
    t.same(p2.data.map((x: { id: string }) => x.id), ids.slice(2, 4))
    const p3 = (await admin(url, 'GET', `?scope_type=user&limit=2&after_id=${p2.last_id as string}`)).json()
    t.same([p3.data.map((x: { id: string }) => x.id), p3.has_more], [ids.slice(4), false])
    const back = (await admin(url, 'GET', `?scope_type=user&limit=2&before_id=${ids[4] as string}`)).json()
    t.same([back.data.map((x: { id: string }) => x.id), back.has_more], [ids.slice(2, 4), true], 'the page just before, in ascending order')
    const empty = (await admin(url, 'GET', `?scope_type=user&before_id=${ids[0] as string}`)).json()
    t.same(empty, { data: [], has_more: false, first_id: null, last_id: null })
  })

  await t.test('/effective: caps and spend per developer, paged', async (t) => {
    await setCap(url, bearer('u-e1', ['eng']), { scope: { type: 'user', user_id: 'u-e1' }, amount: '700', period: 'weekly' })
    for (const sub of ['u-e1', 'u-e2', 'u-e3']) {
      const r = await post(url, bearer(sub, ['eng']))
      t.equal(r.status, 200)
    }
    await post(url, bearer('u-e3', ['eng']))
    const monthly = (): Promise<unknown> => admin(url, 'GET', '/effective?user_ids[]=u-e3&period[]=monthly').then((r) => r.json().data[0]?.period_to_date_spend)
    await eventually(async () => await monthly() === '2', 'spend recorded')
    const named = (await admin(url, 'GET', '/effective?user_ids[]=u-e1&user_ids[]=nobody&period[]=weekly&period[]=monthly&period[]=weekly')).json()
    t.equal(named.next_page, null)
    t.same(named.data[0], {
      scope: { type: 'user', user_id: 'u-e1' },
      groups: ['eng'],
      actor: { type: 'user_actor', user_id: 'u-e1', name: 'u-e1', email_address: 'u-e1@example.com', deleted: false },
      amount: '700', currency: 'USD', period: 'weekly', source: { type: 'user', user_id: 'u-e1' }, spend_limit_id: named.data[0].spend_limit_id, period_to_date_spend: '1',
    })
    t.match(named.data[1], { period: 'monthly', amount: '2000', source: { type: 'rbac_group', rbac_group_id: 'eng' } }, 'the group cap from last-seen groups')
    t.match(named.data[2], { scope: { user_id: 'nobody' }, groups: [], amount: null, source: null, spend_limit_id: null, period_to_date_spend: '0' })
    t.equal(named.data.length, 4, 'duplicate periods collapsed')
    const page1 = (await admin(url, 'GET', '/effective?limit=2&period[]=monthly&q=u-e')).json()
    t.same(page1.data.map((x: { scope: { user_id: string } }) => x.scope.user_id), ['u-e1', 'u-e2'])
    const page2 = (await admin(url, 'GET', `/effective?limit=2&period[]=monthly&q=u-e&page=${page1.next_page as string}`)).json()
    t.same([page2.data.map((x: { scope: { user_id: string } }) => x.scope.user_id), page2.next_page], [['u-e3'], null])
    const top = (await admin(url, 'GET', '/effective?sort=spend_desc&period[]=monthly&limit=1&q=example.com')).json()
    t.same(top.data.map((x: { scope: { user_id: string }, period_to_date_spend: string }) => [x.scope.user_id, x.period_to_date_spend]), [['u-e3', '2']])
    const rest = (await admin(url, 'GET', `/effective?sort=spend_desc&period[]=monthly&limit=5&q=example.com&page=${top.next_page as string}`)).json()
    t.same(rest.data.map((x: { scope: { user_id: string } }) => x.scope.user_id), ['u-e1', 'u-e2'], 'ties by subject')
    t.equal((await admin(url, 'GET', `/effective?period[]=monthly&page=${top.next_page as string}`)).status, 400, 'a sorted cursor does not fit an unsorted listing')
  })
})
