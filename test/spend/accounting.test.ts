/**
 * Worker-side spend control against the real primary module and Postgres (in one thread):
 * blocking at the cap, period rollover with an injected clock, pooled group budgets, exact
 * metering, and the estimate for cut-short streams.
 */
import t from 'tap'
import { GatewayError } from '../../lib/errors.js'
import { callPrimary } from '../../lib/ipc.js'
import { setLogSink } from '../../lib/log.js'
import { SpendAccounting } from '../../lib/spend/accounting.js'
import { freshDatabase } from '../helpers/pg.js'
import { REQ, eventually, oneCent, outcome, spent, startHarness, who } from './harness.js'

async function admitted (h: Awaited<ReturnType<typeof startHarness>>, p = who('alice'), usage = oneCent()): Promise<Record<string, string> | null> {
  const a = await h.acct.admit(p, REQ)
  const headers = h.acct.headers(a)
  h.acct.settle(a, p, outcome(usage))
  return headers
}

async function refusal (fn: () => unknown): Promise<GatewayError> {
  try { await fn() } catch (err) { if (err instanceof GatewayError) return err; throw err }
  throw new Error('expected a refusal')
}

t.test('uncapped principals are metered without a lease', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url)
  t.equal(await h.acct.admit(who('alice'), REQ), null, 'no caps at all: nothing to admit')
  t.equal(await admitted(h), null, 'no usage headers')
  await h.cap({ scope_type: 'user', scope_id: 'bob', amount: 100 })
  t.equal(h.acct.admit(who('alice'), REQ), null, 'caps for others: still uncapped, synchronously')
  await eventually(async () => await spent(db.sql, 'alice', new Date(h.clock.now).toISOString().slice(0, 7)) === 1_000_000, 'alice metered')
  const [lease] = await db.sql`select count(*)::int as n from spend_leases where subject = 'alice'`
  t.equal(lease?.n, 0)
})

t.test('the cap is reached exactly, then refused with the usage-limit 429; rollover opens the next day', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url, (c) => { c.admin.blocked_message = 'ask finops' }, Date.parse('2026-03-31T23:50:00Z'))
  await h.cap({ scope_type: 'user', scope_id: 'alice', amount: 5, period: 'daily' })
  const seen: Array<Record<string, string> | null> = []
  for (let i = 0; i < 5; i++) seen.push(await admitted(h))
  t.equal(seen[0]?.['anthropic-ratelimit-unified-status'], 'allowed')
  t.equal(seen[0]?.['anthropic-ratelimit-unified-reset'], String(Date.parse('2026-04-01T00:00:00Z') / 1000))
  t.same(seen.map((x) => x?.['anthropic-ratelimit-unified-overage-utilization']), ['0', '0.2', '0.4', '0.6', '0.8'], 'spend before each request')
  t.equal(seen[4]?.['anthropic-ratelimit-unified-status'], 'allowed_warning')
  t.equal(seen[4]?.['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.75')
  const err = await refusal(() => h.acct.admit(who('alice'), REQ))
  t.equal(err.code, 'GW_SPEND_BLOCKED')
  t.equal(err.message, 'spend limit reached · resets Apr 1 · ask finops')
  t.match(err.headers, {
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-overage-period': 'daily',
    'anthropic-ratelimit-unified-overage-utilization': '1',
    'anthropic-ratelimit-unified-overage-disabled-reason': 'org_spend_cap_reached',
    'retry-after': '600',
  })
  t.equal(err.headers?.['anthropic-ratelimit-unified-representative-claim'], undefined)
  await eventually(async () => await spent(db.sql, 'alice', '2026-03-31') === 5_000_000, 'exactly the cap on March 31')
  h.clock.now = Date.parse('2026-04-01T00:00:01Z')
  const next = await admitted(h)
  t.equal(next?.['anthropic-ratelimit-unified-status'], 'allowed', 'a new day, a new budget')
  await eventually(async () => await spent(db.sql, 'alice', '2026-04-01') === 1_000_000, 'April 1 metered')
  t.equal(await spent(db.sql, 'alice', '2026-W14'), 6_000_000, 'the week goes on')
  t.equal(await spent(db.sql, 'alice', '2026-03'), 5_000_000)
  t.equal(await spent(db.sql, 'alice', '2026-04'), 1_000_000)
})

t.test('a zero cap blocks at once; a cap change reaches admission', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url)
  await h.cap({ scope_type: 'organization', amount: 0 })
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => setLogSink(undefined))
  const err = await refusal(() => h.acct.admit(who('carol', ['eng']), { ...REQ, requestId: 'req-zero' }))
  setLogSink(undefined)
  t.equal(err.message, 'spend limit reached')
  const blocked = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.evt === 'spend.blocked')
  t.match(blocked, { request_id: 'req-zero', sub: 'carol', cause: 'over_limit', cap_cents: '0', source: 'organization', period: 'monthly' }, 'spend.blocked audit event')
  await h.cap({ scope_type: 'rbac_group', scope_id: 'eng', amount: null })
  t.equal(await h.acct.admit(who('carol', ['eng']), REQ), null, 'an unlimited group row overrides the organization default')
})

t.test('pooled group budgets: the largest pool pays first, then the next; then group_pool 429', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url)
  await h.cap({ scope_type: 'rbac_group', scope_id: 'eng', amount: 1000, pooled: 2 })
  await h.cap({ scope_type: 'rbac_group', scope_id: 'ops', amount: 1000, pooled: 3 })
  const dev = who('dana', ['eng', 'ops'])
  for (let i = 0; i < 5; i++) await admitted(h, dev)
  const err = await refusal(() => h.acct.admit(dev, REQ))
  t.equal(err.headers?.['anthropic-ratelimit-unified-overage-scope'], 'group_pool')
  t.equal(err.headers?.['anthropic-ratelimit-unified-overage-period'], 'monthly')
  t.match(err.message, /group's shared budget/)
  const month = new Date(h.clock.now).toISOString().slice(0, 7)
  await eventually(async () => {
    const rows = await db.sql`select rbac_group_id as g, micro_cents::text as m from pooled_spend where period = ${month} order by 1`
    return rows.map((r) => `${String(r.g)}=${String(r.m)}`).join(',') === 'eng=2000000,ops=3000000'
  }, 'ops paid 3 cents, then eng 2')
  t.equal(await spent(db.sql, 'dana', month), 5_000_000, "each request also counts toward the member's own cap")
})

t.test('a cut-short stream is billed on its output estimate', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url)
  const a = await h.acct.admit(who('erin'), REQ)
  h.acct.settle(a, who('erin'), outcome(null, { status: 499, aborted: true, estimatedOutputTokens: 2000 }))
  // 2,000 output tokens of Haiku 4.5 at $5/MTok = 1 cent
  await eventually(async () => await spent(db.sql, 'erin', new Date(h.clock.now).toISOString().slice(0, 10)) === 1_000_000, 'estimate metered')
  const b = await h.acct.admit(who('erin'), REQ)
  h.acct.settle(b, who('erin'), outcome(oneCent({ output_tokens: 10 }), { aborted: true, estimatedOutputTokens: 2000 }))
  await eventually(async () => await spent(db.sql, 'erin', new Date(h.clock.now).toISOString().slice(0, 10)) === 3_000_000, 'usage plus the larger output estimate')
})

t.test('a cap changed behind a worker\'s back is caught by the lease statement', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  const h = await startHarness(t, db.sql, db.url)
  await h.cap({ scope_type: 'user', scope_id: 'fay', amount: 1000 })
  // A second worker that never hears the primary's pushes: only the lease statement can tell it.
  const deaf = new SpendAccounting(h.acct.config, {})
  t.teardown(() => deaf.close())
  deaf.setCaps(await callPrimary('spend.caps', {}))
  await db.sql`update spend_limits set amount = 0 where scope_type = 'user' and scope_id = 'fay'`
  const err = await refusal(() => deaf.admit(who('fay'), REQ))
  t.equal(err.code, 'GW_SPEND_BLOCKED', 'the stale cap was refused by Postgres, reloaded, and the new zero cap applied')
  t.equal(err.message, 'spend limit reached')
})
