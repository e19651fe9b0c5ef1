/**
 * lib/metering/ledger.ts writeLedger, against real Postgres: the principal, pooled and per-model
 * spend upserts (one helper over three tables) insert a bucket, add to it on conflict and bump
 * `updated_at`; the principal and pooled ones also derive `cents` from the integer micro-cent total
 * and return each touched bucket's new total (per-model spend has no `cents` column and its totals
 * are not returned).
 */
import t from 'tap'
import { writeLedger } from '../../lib/metering/ledger.js'
import { freshDatabase } from '../helpers/pg.js'

const NONE = { keys: [], buckets: [], micro: [] }

t.test('spend and pooled spend: insert, add on conflict, cents derived, totals returned', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const first = await writeLedger(sql,
    { keys: ['ann', 'ben'], buckets: ['2026-08', '2026-08-03'], micro: [1_500_000, 7] },
    { keys: ['eng'], buckets: ['2026-08'], micro: [2_250_000] }, [])
  t.same(first.spend.map((r) => [r.subject, r.period, r.micro]).sort(), [['ann', '2026-08', '1500000'], ['ben', '2026-08-03', '7']])
  t.same(first.pooled.map((r) => [r.subject, r.period, r.micro]), [['eng', '2026-08', '2250000']])

  const second = await writeLedger(sql,
    { keys: ['ann'], buckets: ['2026-08'], micro: [9_000_000_000_001] },
    { keys: ['eng', 'ops'], buckets: ['2026-08', '2026-08'], micro: [750_000, 1] }, [])
  t.same(second.spend.map((r) => [r.subject, r.period, r.micro]), [['ann', '2026-08', '9000001500001']], 'a large micro-cent sum stays exact')
  t.same(second.pooled.map((r) => [r.subject, r.period, r.micro]).sort(), [['eng', '2026-08', '3000000'], ['ops', '2026-08', '1']])

  const spend = await sql`select principal, period, micro_cents::text as m, cents from spend order by principal, period`
  t.same(spend.map((r) => [r.principal, r.period, r.m, Number(r.cents)]), [['ann', '2026-08', '9000001500001', 9000001.500001], ['ben', '2026-08-03', '7', 0.000007]])
  const pooled = await sql`select rbac_group_id as g, period, micro_cents::text as m, cents from pooled_spend order by rbac_group_id`
  t.same(pooled.map((r) => [r.g, r.period, r.m, Number(r.cents)]), [['eng', '2026-08', '3000000', 3], ['ops', '2026-08', '1', 0.000001]])

  const none = await writeLedger(sql, NONE, NONE, [])
  t.same(none, { spend: [], pooled: [] }, 'nothing to write: no totals')
})

t.test('spend per model: insert, add on conflict, exact micro-cents, updated_at bumped, nothing returned', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const first = await writeLedger(sql, NONE, NONE, [],
    { keys: ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-sonnet-4-5'], buckets: ['2026-08', '2026-08', '2026-08-03'], micro: [1_500_000, 7, 2.2] })
  t.same(first, { spend: [], pooled: [] }, 'per-model totals are not handed back')
  const read = async (): Promise<string[][]> => (await sql`select model, period, micro_cents::text as m from spend_by_model order by model, period`).map((r) => [r.model, r.period, r.m])
  t.same(await read(), [['claude-haiku-4-5', '2026-08', '7'], ['claude-sonnet-4-5', '2026-08', '1500000'], ['claude-sonnet-4-5', '2026-08-03', '3']], 'inserted, a fraction rounded up as for the other tables')

  await sql`update spend_by_model set updated_at = now() - interval '1 year'`
  await writeLedger(sql, NONE, NONE, [], { keys: ['claude-sonnet-4-5', 'claude-opus-4-5'], buckets: ['2026-08', '2026-08'], micro: [9_000_000_000_001, 5] })
  t.same(await read(), [['claude-haiku-4-5', '2026-08', '7'], ['claude-opus-4-5', '2026-08', '5'], ['claude-sonnet-4-5', '2026-08', '9000001500001'], ['claude-sonnet-4-5', '2026-08-03', '3']], 'added on conflict, a large sum exact')
  const fresh = await sql`select model, period from spend_by_model where updated_at > now() - interval '1 hour' order by model, period`
  t.same(fresh.map((r) => [r.model, r.period]), [['claude-opus-4-5', '2026-08'], ['claude-sonnet-4-5', '2026-08']], 'updated_at set on the buckets written, and only those')

  await writeLedger(sql, NONE, NONE, [], NONE)
  t.equal((await read()).length, 4, 'no model rows: nothing written')
})
