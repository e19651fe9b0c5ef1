/**
 * lib/metering/ledger.ts writeLedger, against real Postgres: the principal and pooled spend
 * upserts (one helper over two tables) insert a bucket, add to it on conflict, derive `cents` from
 * the integer micro-cent total, and return each touched bucket's new total — the same for both.
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
