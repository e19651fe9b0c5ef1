/**
 * Metering from worker batches to the ledger: the compact batch format, the pool task's pricing
 * and aggregation, and the Meter writing a recorded usage mix to Postgres to the cent, with the
 * lease charges of the same requests in the same transaction.
 */
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { Meter } from '../../lib/metering/meter.js'
import { Outbox } from '../../lib/metering/outbox.js'
import { BatchBuilder, C, NONE, type UsageBatch } from '../../lib/metering/records.js'
import { aggregate, type Aggregate, type AggregateTask } from '../../lib/metering/task.js'
import { leaseBudget } from '../../lib/spend/store.js'
import { acquirePrimaryPool } from '../../lib/workers-pool.js'
import { freshDatabase } from '../helpers/pg.js'

const AT = Date.UTC(2026, 7, 3, 10)
const TASK = fileURLToPath(new URL('../../lib/metering/task.js', import.meta.url))
const OVERRIDES = [{ upstream: 'corp', model: 'claude-sonnet-4-6', input: 2.5, output: 12.5, cache_read: 0.25, cache_write: 3.125 }]

/** [sub, upstream, upstream model, client model, input, output, cacheRead, cacheWrite, cacheWrite1h, webSearch, fast, pool] */
type Rec = [string, string, string, string, number, number, number, number, number, number, boolean, string | null]
const MIX: Rec[] = [
  ['ann', 'anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5', 1000, 500, 2000, 3000, 1000, 2, false, null], // 4.46 ¢
  ['ann', 'anthropic', 'claude-opus-4-6', 'claude-opus-4-6', 100, 200, 0, 0, 0, 0, true, 'eng'], // 3.3 ¢
  ['ben', 'anthropic', 'claude-sonnet-4-6', 'claude-sonnet-4-6', 150_000, 1000, 60_000, 0, 0, 0, false, 'eng'], // 95.85 ¢
  ['ben', 'anthropic', 'my-custom-model', 'my-custom-model', 1000, 1000, 0, 0, 0, 0, false, null], // 3 ¢
  ['cat', 'anthropic', 'us.anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku', 12_345, 678, 9, 10, 0, 0, false, null], // 1.259872 ¢
  ['cat', 'anthropic', 'claude-opus-4-1@20250805', 'claude-opus-4-1', 10, 10, 0, 0, 0, 0, false, null], // 0.09 ¢
  ['cat', 'corp', 'claude-sonnet-4-6', 'claude-sonnet-4-6', 1000, 1000, 0, 800, 400, 0, false, null], // 1.75 ¢
]

function batchOf (recs: Rec[], holder = 'h1'): UsageBatch {
  const b = new BatchBuilder(holder)
  for (const r of recs) {
    b.add((rows, o) => {
      rows[o + C.at] = AT
      rows[o + C.sub] = b.str(r[0])
      rows[o + C.upstream] = b.str(r[1])
      rows[o + C.upstreamModel] = b.str(r[2])
      rows[o + C.clientModel] = b.str(r[3])
      rows[o + C.input] = r[4]; rows[o + C.output] = r[5]; rows[o + C.cacheRead] = r[6]; rows[o + C.cacheWrite] = r[7]
      rows[o + C.cacheWrite1h] = r[8]; rows[o + C.webSearch] = r[9]; rows[o + C.fast] = r[10] ? 1 : 0
      rows[o + C.pool] = r[11] === null ? NONE : b.str(r[11])
    })
  }
  return b.take()
}

t.test('batches: one string table, fixed-width rows, charges summed per epoch', async (t) => {
  const b = new BatchBuilder('h9')
  for (let i = 0; i < 100; i++) b.add((rows, o) => { rows[o + C.sub] = b.str(i % 2 === 0 ? 'a' : 'b'); rows[o + C.clientModel] = b.str('m') })
  b.charge('u', 'a', '2026-08', 'e1', 5)
  b.charge('u', 'a', '2026-08', 'e1', 7)
  b.charge('u', 'a', '2026-08', 'e2', 0)
  const got = b.take()
  t.equal(got.n, 100)
  t.same(got.strings, ['a', 'm', 'b'])
  t.equal(got.rows.length, 100 * 13)
  t.same(got.charges, [['u', 'a', '2026-08', 'e1', 12]])
  t.ok(b.empty, 'take() starts afresh')
  const shipped: UsageBatch[] = []
  const box = new Outbox('h9', (x) => shipped.push(x))
  box.batch.add((rows, o) => { rows[o + C.sub] = box.batch.str('z') })
  box.touched()
  t.equal(shipped.length, 0, 'batched, not sent per record')
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(shipped.length, 1, 'sent within the flush interval')
  box.close()
})

t.test('the pool task prices and sums a recorded mix per ledger row', async (t) => {
  const agg = aggregate({ batches: [batchOf(MIX.slice(0, 4)), batchOf(MIX.slice(4), 'h2')], pricing: { multiplier: 1, overrides: OVERRIDES } })
  t.equal(agg.records, 7)
  t.equal(agg.total, 109_709_872)
  const sums = new Map(agg.spend.keys.map((k, i) => [`${k} ${agg.spend.buckets[i] as string}`, agg.spend.micro[i]]))
  t.equal(sums.get('ann 2026-08-03'), 7_760_000)
  t.equal(sums.get('ann 2026-W32'), 7_760_000)
  t.equal(sums.get('ben 2026-08'), 98_850_000)
  t.equal(sums.get('cat 2026-08'), 3_099_872)
  t.equal(agg.spend.keys.length, 9, 'three principals × three buckets')
  t.same([agg.pooled.keys, agg.pooled.buckets, agg.pooled.micro], [['eng'], ['2026-08'], [99_150_000]])
})

t.test('the Meter writes the mix to Postgres to the cent, through the Piscina pool', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into spend_limits (id, scope_type, scope_id, amount, period) values ('spl_c', 'user', 'ann', 100, 'monthly')`
  const lease = await leaseBudget(sql, { kind: 'u', subject: 'ann', bucket: '2026-08', holder: 'h1', epoch: 'e', limitId: 'spl_c', amount: '100', want: 10_000_000, need: 10_000_000, partialOk: false, ttlMs: 60_000 })
  t.equal(lease.granted, 10_000_000)
  const pool = acquirePrimaryPool()
  t.teardown(() => pool.release())
  let viaPool = 0
  const meter = new Meter(sql, { multiplier: 1, overrides: OVERRIDES }, {
    runTask: async (task: AggregateTask) => { viaPool++; return await pool.run<Aggregate>(TASK, 'aggregate', task) },
  })
  const a = batchOf(MIX.slice(0, 4))
  a.charges.push(['u', 'ann', '2026-08', 'e', 7_760_000])
  meter.add(a)
  meter.add(batchOf(MIX.slice(4), 'h2'))
  meter.identity({ sub: 'ann', email: 'ann@example.com', name: 'Ann', groups: ['eng'] })
  await meter.tick()
  t.equal(viaPool, 1, 'one pool task for the flush')
  t.equal(meter.backlog, 0)
  const rows = await sql<Array<{ principal: string, period: string, micro: string, cents: number }>>`
    select principal, period, micro_cents::text as micro, cents from spend where period = '2026-08' order by principal`
  t.same(rows.map((r) => [r.principal, r.micro]), [['ann', '7760000'], ['ben', '98850000'], ['cat', '3099872']])
  t.same(rows.map((r) => r.cents.toFixed(2)), ['7.76', '98.85', '3.10'], 'to the cent in the reference-compatible column')
  const [total] = await sql`select sum(micro_cents)::text as s from spend where period = '2026-08'`
  t.equal(total?.s, '109709872', '109.709872 cents in all, exactly')
  const [pooled] = await sql`select micro_cents::text as m from pooled_spend where rbac_group_id = 'eng' and period = '2026-08'`
  t.equal(pooled?.m, '99150000')
  const [held] = await sql`select micro_cents::text as m from spend_leases where holder = 'h1'`
  t.equal(held?.m, '2240000', "ann's lease was drawn down by what her requests cost, in the same transaction")
  const [who] = await sql`select email, groups from principal_emails where principal = 'ann'`
  t.same(who, { email: 'ann@example.com', groups: ['eng'] })
  // The report ledger: tokens by kind and the cost split by kind, adding up to the spend ledger.
  const usage = await sql<Array<Record<string, string>>>`
    select principal, model, upstream, long_context::text as long, requests::text, input_tokens::text as i, output_tokens::text as o,
      cache_read_tokens::text as r, cache_write_5m_tokens::text as w5, cache_write_1h_tokens::text as w1, web_search_requests::text as ws,
      (input_micro_cents + output_micro_cents + cache_read_micro_cents + cache_write_5m_micro_cents + cache_write_1h_micro_cents + web_search_micro_cents)::text as micro,
      extract(epoch from minute)::bigint::text as minute
    from usage_minutes order by principal, model, upstream`
  t.equal(usage.length, 7)
  t.same(usage[0], { principal: 'ann', model: 'claude-opus-4-6', upstream: 'anthropic', long: 'false', requests: '1', i: '100', o: '200', r: '0', w5: '0', w1: '0', ws: '0', micro: '3300000', minute: String(AT / 1000) })
  t.same(usage[1], { principal: 'ann', model: 'claude-sonnet-4-5', upstream: 'anthropic', long: 'false', requests: '1', i: '1000', o: '500', r: '2000', w5: '2000', w1: '1000', ws: '2', micro: '4460000', minute: String(AT / 1000) })
  t.equal(usage.find((u) => u.model === 'claude-sonnet-4-6' && u.principal === 'ben')?.long, 'true', 'a 210k-token prompt is long context')
  const [sumUsage] = await sql`select sum(input_micro_cents + output_micro_cents + cache_read_micro_cents + cache_write_5m_micro_cents + cache_write_1h_micro_cents + web_search_micro_cents)::text as s from usage_minutes`
  t.equal(sumUsage?.s, '109709872', 'the report ledger adds up to the spend ledger exactly')
  const [split] = await sql`select input_micro_cents::text as i, output_micro_cents::text as o, cache_read_micro_cents::text as r, cache_write_5m_micro_cents::text as w5, cache_write_1h_micro_cents::text as w1, web_search_micro_cents::text as ws from usage_minutes where principal = 'ann' and model = 'claude-sonnet-4-5'`
  t.same(split, { i: '300000', o: '750000', r: '60000', w5: '750000', w1: '600000', ws: '2000000' }, 'Sonnet 4.5 by kind: 3, 15, 0.30, 3.75 and 6 dollars per MTok, one cent a search')
  const [hours] = await sql`select count(*)::int as n, sum(requests)::int as r, sum(input_micro_cents + output_micro_cents + cache_read_micro_cents + cache_write_5m_micro_cents + cache_write_1h_micro_cents + web_search_micro_cents)::text as s,
    min(extract(epoch from hour))::bigint::text as h from usage_hours`
  t.same(hours, { n: 7, r: 7, s: '109709872', h: String(AT / 1000) }, 'and its hourly sums hold the same')
  meter.add(batchOf(MIX.slice(0, 1)))
  await meter.stop()
  const [again] = await sql`select micro_cents::text as m from spend where principal = 'ann' and period = '2026-08'`
  t.equal(again?.m, '12220000', 'stop() writes what is left')
  const [row] = await sql`select requests::text as n, input_tokens::text as i from usage_minutes where principal = 'ann' and model = 'claude-sonnet-4-5'`
  t.same(row, { n: '2', i: '2000' }, 'a later flush adds to the same minute row')
})

t.test('a failure to record identities after the ledger committed never writes the spend twice', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const meter = new Meter(sql, { multiplier: 1, overrides: OVERRIDES })
  // principal_emails unreachable: the ledger transaction commits, recording who spent then fails.
  await sql`alter table principal_emails rename to principal_emails_away`
  meter.add(batchOf(MIX.slice(0, 1)))
  meter.identity({ sub: 'ann', email: 'ann@example.com', name: 'Ann', groups: ['eng'] })
  await meter.tick()
  const spentNow = async (): Promise<string | undefined> =>
    (await sql`select micro_cents::text as m from spend where principal = 'ann' and period = '2026-08'`)[0]?.m
  t.equal(await spentNow(), '4460000', 'the ledger row was written once')
  t.equal(meter.backlog, 0, 'no spend kept back for a retry')
  await sql`alter table principal_emails_away rename to principal_emails`
  await meter.stop()
  t.equal(await spentNow(), '4460000', 'the retry recorded the identity without counting the spend again')
  const [who] = await sql`select email from principal_emails where principal = 'ann'`
  t.equal(who?.email, 'ann@example.com', 'the identity was recorded on the next flush')
})

t.test('a pricing reload: queued batches keep the pricing they arrived under, later ones get the new one', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const meter = new Meter(sql, { multiplier: 1, overrides: [] })
  // ben's 'my-custom-model' request: 3 ¢ at the default fallback price.
  meter.add(batchOf(MIX.slice(3, 4)))
  meter.setPricing({ multiplier: 2, overrides: [] })
  meter.add(batchOf(MIX.slice(3, 4)))
  await meter.tick()
  const [one] = await sql`select micro_cents::text as m from spend where principal = 'ben' and period = '2026-08'`
  t.equal(one?.m, '9000000', 'the batch queued before the change at 3 ¢, the one after at 6 ¢, in the same flush')
  meter.setPricing(undefined)
  meter.add(batchOf(MIX.slice(3, 4)))
  await meter.stop()
  const [two] = await sql`select micro_cents::text as m from spend where principal = 'ben' and period = '2026-08'`
  t.equal(two?.m, '12000000', 'back to the default pricing')
})
