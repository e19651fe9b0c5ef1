/**
 * Who may use the spend-limits admin API, against a running gateway: nothing without credentials,
 * no bearer outside `admin.admin_groups` (however its groups are dressed up), no revoked or expired
 * admin bearer (nor a re-spelling of one), no wrong or near-miss admin key, keys only in
 * `x-api-key`, and read keys only read. Every refusal is a 401/403 Anthropic envelope and changes
 * nothing.
 */
import t, { type Test } from 'tap'
import { kidOf } from '../../lib/session/token.js'
import { eventually as soon, http, signIn } from '../auth/helpers/flow.js'
import { TEST_SECRET } from '../helpers/gateway.js'
import { req, type Res } from '../helpers/http.js'
import { READ_KEY, WRITE_KEY, admin, bearer, oneCentUpstream, spendGateway } from '../integration/spend-helpers.js'
import { claims, forge, respellings } from './forge.js'

const FIN = { sub: 'u-fin', email: 'fin@example.com', name: 'Fin', groups: ['finops'] }
const PREFIX = '/v1/organizations/spend_limits'

t.test('admin API authorization', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url } = await spendGateway(t, fake, { users: [FIN] })
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Res> =>
    await req(`${url}${PREFIX}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const created = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-existing' }, amount: '300', force: true })
  t.equal(created.status, 200, 'a write key creates a cap')
  const capId = created.json().id as string
  const body = { scope: { type: 'user', user_id: 'u-intruder' }, amount: '1' }
  /** Every operation the API offers, each with a request that would succeed for a writer. */
  const ops: Array<[string, string, unknown]> = [
    ['GET', '', undefined],
    ['GET', `/${capId}`, undefined],
    ['GET', '/audit', undefined],
    ['GET', '/effective', undefined],
    ['POST', '', body],
    ['DELETE', `/${capId}`, undefined],
  ]
  const refusedEverywhere = async (t: Test, what: string, headers: Record<string, string>, status = 401): Promise<void> => {
    for (const [method, path, b] of ops) {
      const r = await call(method, path, headers, b)
      t.equal(r.status, status, `${what}: ${method} ${path || '/'}`)
      t.equal(r.json().type, 'error', `${what}: ${method} ${path || '/'} is an error envelope`)
      t.match(r.json().request_id, /^req_[0-9a-f]{32}$/)
    }
  }
  const untouched = async (t: Test): Promise<void> => {
    const list = (await admin(url, 'GET', '', undefined, READ_KEY)).json() as { data: Array<{ id: string, amount: string, scope: { user_id?: string } }> }
    t.ok(list.data.some((l) => l.id === capId && l.amount === '300'), 'the existing cap is unchanged')
    t.notOk(list.data.some((l) => l.scope.user_id === 'u-intruder'), 'nothing was created')
  }

  await t.test('no credentials', async (t) => {
    await refusedEverywhere(t, 'no headers', {})
    await refusedEverywhere(t, 'empty x-api-key', { 'x-api-key': '' })
    await refusedEverywhere(t, 'empty Authorization', { authorization: '' })
    await refusedEverywhere(t, 'Bearer with no token', { authorization: 'Bearer ' })
    await refusedEverywhere(t, 'Basic scheme', { authorization: `Basic ${Buffer.from(`admin:${WRITE_KEY}`).toString('base64')}` })
    t.equal((await req(`${url}/api/oauth/usage`)).status, 401, '/api/oauth/usage needs a bearer too')
    await untouched(t)
  })

  await t.test('wrong and near-miss admin keys', async (t) => {
    const near: Array<[string, string]> = [
      ['an unknown key', 'k'.repeat(40)],
      ['the write key with one character changed', `${WRITE_KEY.slice(0, -1)}x`],
      ['the write key with a character dropped', WRITE_KEY.slice(0, -1)],
      ['the write key with a character added', `${WRITE_KEY}w`],
      ['the write key in upper case', WRITE_KEY.toUpperCase()],
      ['the write key twice', WRITE_KEY + WRITE_KEY],
      ['a prefix of the write key', WRITE_KEY.slice(0, 8)],
      ['the key id instead of the key', 'terraform'],
    ]
    for (const [what, key] of near) await refusedEverywhere(t, what, { 'x-api-key': key })
    await refusedEverywhere(t, 'the write key as a bearer', { authorization: `Bearer ${WRITE_KEY}` })
    await refusedEverywhere(t, 'a wrong key beside an admin bearer (the key is the only credential considered)',
      { 'x-api-key': 'k'.repeat(40), authorization: `Bearer ${bearer('u-fin', ['finops'])}` })
    await untouched(t)
  })

  await t.test('bearers outside admin_groups, however dressed up', async (t) => {
    await refusedEverywhere(t, 'a developer bearer', { authorization: `Bearer ${bearer('u-dev', ['eng'])}` })
    await refusedEverywhere(t, 'a bearer without groups', { authorization: `Bearer ${bearer('u-dev')}` })
    await refusedEverywhere(t, 'a group differing in case', { authorization: `Bearer ${bearer('u-dev', ['FinOps'])}` })
    await refusedEverywhere(t, 'a group with a trailing space', { authorization: `Bearer ${bearer('u-dev', ['finops '])}` })
    await refusedEverywhere(t, 'groups as a string', { authorization: `Bearer ${forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(TEST_SECRET) }, claims('u-dev', [], { groups: 'finops,eng' }), TEST_SECRET)}` })
    const dev = bearer('u-dev', ['eng'])
    const [h, , s] = dev.split('.') as [string, string, string]
    const raised = Buffer.from(JSON.stringify(claims('u-dev', ['finops']))).toString('base64url')
    await refusedEverywhere(t, 'a developer bearer with finops spliced into its payload', { authorization: `Bearer ${h}.${raised}.${s}` })
    await refusedEverywhere(t, 'a finops bearer signed by a foreign secret', { authorization: `Bearer ${forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(TEST_SECRET) }, claims('u-x', ['finops']), 'not-the-secret-0123456789abcdef0123456789')}` })
    await refusedEverywhere(t, 'an unsigned finops bearer', { authorization: `Bearer ${forge({ alg: 'none', typ: 'JWT' }, claims('u-x', ['finops']), { sig: '' })}` })
    const now = Math.floor(Date.now() / 1000)
    await refusedEverywhere(t, 'an expired finops bearer', { authorization: `Bearer ${forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(TEST_SECRET) }, claims('u-x', ['finops'], { iat: now - 7200, exp: now - 60 }), TEST_SECRET)}` })
    await untouched(t)
  })

  await t.test('a revoked admin bearer, and every re-spelling of it', async (t) => {
    const tk = ((await signIn(url)).token.json() as { access_token: string }).access_token
    const ok = await call('GET', '', { authorization: `Bearer ${tk}` })
    t.equal(ok.status, 200, 'the signed-in finops member may read')
    t.equal((await http(`${url}/oauth/revoke`, { form: { token: tk } })).status, 200)
    t.ok(await soon(async () => (await call('GET', '', { authorization: `Bearer ${tk}` })).status === 401, 5000), 'refused once revoked')
    await refusedEverywhere(t, 'the revoked bearer', { authorization: `Bearer ${tk}` })
    for (const [what, v] of respellings(tk).filter(([w]) => w.startsWith('signature'))) {
      await refusedEverywhere(t, `the revoked bearer re-spelled (${what})`, { authorization: `Bearer ${v}` })
    }
    await untouched(t)
  })

  await t.test('read keys read, write keys and admin bearers write', async (t) => {
    for (const [method, path] of ops.filter(([m]) => m === 'GET')) {
      t.equal((await call(method, path, { 'x-api-key': READ_KEY })).status, 200, `read key: ${method} ${path || '/'}`)
    }
    for (const [method, path, b] of ops.filter(([m]) => m !== 'GET')) {
      const r = await call(method, path, { 'x-api-key': READ_KEY }, b)
      t.equal(r.status, 403, `read key may not ${method} ${path || '/'}`)
      t.same(r.json().error, { type: 'permission_error', message: 'requires write:spend_limits' })
    }
    await untouched(t)
    const adminBearer = { authorization: `Bearer ${bearer('u-fin', ['eng', 'finops'])}` }
    const made = await call('POST', '', adminBearer, { scope: { type: 'user', user_id: 'u-by-bearer' }, amount: '42', force: true })
    t.equal(made.status, 200, 'an admin-group bearer may create')
    t.equal((await call('DELETE', `/${made.json().id as string}`, adminBearer)).status, 200, 'and delete')
    t.equal((await call('DELETE', `/${capId}`, { 'x-api-key': WRITE_KEY })).status, 200, 'a write key may delete')
  })
})
