/**
 * Sign-in's store on real Postgres: the kv add / compare-and-swap the device flow relies on, the
 * principal directory, revocation rows, and the primary's revocation feed (RPCs, NOTIFY from
 * another connection, as another replica would insert, and the periodic prune).
 */
import postgres from 'postgres'
import t from 'tap'
import type { LoadedConfig } from '../../lib/config/load.js'
import { callPrimary, clearRpc, onEvent } from '../../lib/ipc.js'
import type { Revocation } from '../../lib/session/sessions.js'
import { startSignIn } from '../../lib/session/primary.js'
import { activeRevocations, insertRevocation, kvAdd, kvSwap, pruneRevocations, recordPrincipal } from '../../lib/session/store.js'
import { eventually } from '../auth/helpers/flow.js'
import { freshDatabase } from '../helpers/pg.js'

/** `callPrimary` without the map's types: what a wrong caller could still send at run time. */
const untypedCall = callPrimary as (name: string, args: unknown) => Promise<unknown>

t.test('kv add and compare-and-swap', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  t.equal(await kvAdd(sql, 'k', 'v1', 60), true)
  t.equal(await kvAdd(sql, 'k', 'v2', 60), false, 'a live row is kept')
  await sql`update kv set expires_at = now() - interval '1 second' where key = 'k'`
  t.equal(await kvAdd(sql, 'k', 'v3', 60), true, 'an expired row is replaced')
  t.equal(await kvSwap(sql, 'k', 'v1', 'x', 60), false, 'stale expectation')
  t.equal(await kvSwap(sql, 'k', 'v3', 'v4', 60), true)
  t.equal(await kvSwap(sql, 'k', 'v3', 'v5', 60), false, 'only one of two racers wins')
  t.equal(await kvSwap(sql, 'nope', 'v', 'w', 60), false)
  await sql`update kv set expires_at = now() - interval '1 second' where key = 'k'`
  t.equal(await kvSwap(sql, 'k', 'v4', 'v6', 60), false, 'expired rows cannot be swapped')
})

t.test('principal directory and revocation rows', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await recordPrincipal(sql, { sub: 'p1', email: 'a@x.y', name: 'A', groups: ['g1'] })
  await recordPrincipal(sql, { sub: 'p1', email: 'b@x.y', groups: ['g2', 'g3'] })
  t.same(await sql`select principal, email, name, groups from principal_emails`, [{ principal: 'p1', email: 'b@x.y', name: null, groups: ['g2', 'g3'] }])

  const now = Math.floor(Date.now() / 1000)
  await insertRevocation(sql, { id: 't1', sub: 'p1', exp: now + 60 })
  await insertRevocation(sql, { id: 't1', exp: now + 120 })
  await insertRevocation(sql, { sub: 'p2', before: now, exp: now + 60 })
  await insertRevocation(sql, { id: 'old', exp: now - 5 })
  await t.rejects(insertRevocation(sql, { exp: now + 60 }), /names a token id/)
  const list = await activeRevocations(sql)
  t.same(list.map((r) => r.id ?? r.sub), ['t1', 'p2'], 'expired rows are not active')
  t.equal(Math.round(list[0]?.exp ?? 0), now + 120, 'a repeated token id keeps the later expiry')
  t.equal(list[1]?.before, now)
  t.equal(await pruneRevocations(sql), 1)
})

t.test('the primary module: RPCs, immediate push, NOTIFY from another replica', async (t) => {
  const { sql, url } = await freshDatabase(t, { migrate: true })
  const got: Revocation[] = []
  const off = onEvent('session.revoked', (list: Revocation[]) => { got.push(...list) })
  const mod = await startSignIn({ sql, loaded: { config: { oidc: undefined } } as unknown as LoadedConfig })
  t.teardown(async () => { off(); await mod.stop(); clearRpc() })
  const now = Math.floor(Date.now() / 1000)

  await callPrimary('session.revoke', { id: 'tok-a', sub: 'u', exp: now + 60 })
  t.same(got.map((r) => r.id), ['tok-a'], 'pushed to workers at once')
  await t.rejects(untypedCall('session.revoke', { id: 'x' }), /session.revoke: exp is required/)
  await t.rejects(untypedCall('session.revoke', { id: 'x', exp: -5 }), /exp must be a positive number/)
  await t.rejects(callPrimary('session.revoke', { sub: 'u', exp: now + 60 }), /before is required with sub/)

  const other = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end({ timeout: 1 }))
  await other`insert into session_revocations (token_id, expires_at) values ('tok-b', now() + interval '1 minute')`
  t.ok(await eventually(() => got.some((r) => r.id === 'tok-b'), 2000), 'a row another replica inserted arrives through NOTIFY')
  t.equal(got.filter((r) => r.id === 'tok-a').length, 1, 'nothing is pushed twice')

  t.equal(await callPrimary('session.refreshRevoked', { hash: 'h1' }), false)
  await callPrimary('session.revokeRefresh', { hash: 'h1', ttlSeconds: 60 })
  t.equal(await callPrimary('session.refreshRevoked', { hash: 'h1' }), true)
  t.equal(await callPrimary('session.kvAdd', { key: 'a', value: 'b', ttlSeconds: 10 }), true)
  t.equal(await callPrimary('session.kvSwap', { key: 'a', expect: 'b', value: 'c', ttlSeconds: 10 }), true)
  await t.rejects(untypedCall('session.recordPrincipal', { sub: 'p9', email: 'e@x.y', groups: ['g', 7] }), /session.recordPrincipal: groups\[1\] must be a string/)
  await callPrimary('session.recordPrincipal', { sub: 'p9', email: 'e@x.y', groups: ['g'] })
  t.same(await sql`select groups from principal_emails where principal = 'p9'`, [{ groups: ['g'] }])
})
