/**
 * The organization's hourly sums (`usage_org_hours`, migration 0021) against the per-developer
 * hourly rows: hour reports that neither group nor filter by a person read the organization's
 * table, and give exactly, to the micro-cent and token, what summing `usage_hours` gives — for no
 * grouping, by model, upstream, speed and context window, and with model/speed filters; flushes
 * inside and outside a transaction, several into the same hour. The retention sweep deletes them.
 */
import t from 'tap'
import { writeUsage } from '../../lib/reports/ledger.js'
import { sumUsage } from '../../lib/reports/query.js'
import type { Range } from '../../lib/reports/params.js'
import type { UsageRow } from '../../lib/metering/usage.js'
import { sweepRetention } from '../../lib/store/sweeps.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'
import { prng } from '../helpers/prng.js'

const HOUR = 3_600_000
const START = Date.parse('2026-03-02T00:00:00Z')
const HOURS = 30
const COLUMNS = ['requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'web_search_requests',
  'input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents']
const DIM: Record<string, string> = { model: 'u.model', upstream: "nullif(u.upstream, '')", speed: "case when u.fast then 'fast' else 'standard' end", context_window: "case when u.long_context then '200k-1M' else '0-200k' end" }

function rows (rand: () => number, n: number): UsageRow[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  // One row per key, as the flush hands them over (lib/metering/usage.ts sums a batch per key).
  const byKey = new Map<string, UsageRow>()
  for (const r of Array.from({ length: n }, () => ({
    minute: START + Math.floor(rand() * HOURS * 60) * 60_000,
    principal: pick(['p0', 'p1', 'p2', 'p3', 'p4']),
    model: pick(['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-6']),
    upstream: pick(['anthropic', 'vertex', '']),
    long: rand() < 0.2,
    fast: rand() < 0.3,
    v: COLUMNS.map((c, i) => i === 0 ? 1 : Math.floor(rand() * (c.endsWith('micro_cents') ? 1e12 : 1e6))),
  }))) {
    const k = JSON.stringify([r.minute, r.principal, r.model, r.upstream, r.long, r.fast])
    const had = byKey.get(k)
    byKey.set(k, had === undefined ? r : { ...had, v: had.v.map((x, i) => x + (r.v[i] as number)) })
  }
  return [...byKey.values()]
}

async function reference (sql: Sql, dims: readonly string[], filters: ReadonlyMap<string, readonly string[]>): Promise<string[]> {
  const params: unknown[] = [new Date(START).toISOString(), new Date(START + HOURS * HOUR).toISOString()]
  const where = ['u.hour >= $1::timestamptz', 'u.hour < $2::timestamptz']
  const models = filters.get('models')
  if (models !== undefined) { params.push(models); where.push(`u.model = any($${params.length}::text[])`) }
  const speeds = filters.get('speeds')
  if (speeds !== undefined) { params.push(speeds); where.push(`(${DIM.speed as string}) = any($${params.length}::text[])`) }
  const rs = await sql.unsafe(`
    select (floor(extract(epoch from u.hour) / 3600) * 3600)::bigint::text as b${dims.map((d, i) => `, ${DIM[d] as string} as d${i}`).join('')},
      ${COLUMNS.map((c, i) => `sum(u.${c})::text as s${i}`).join(', ')}
    from usage_hours u where ${where.join(' and ')}
    group by 1${dims.map((_d, i) => `, ${i + 2}`).join('')} order by 1${dims.map((_d, i) => `, ${i + 2} nulls last`).join('')}`, params as never[]) as unknown as Array<Record<string, string | null>>
  return rs.map((r) => JSON.stringify([Number(r.b) * 1000, ...dims.map((_d, i) => r[`d${i}`] ?? null), ...COLUMNS.map((_c, i) => r[`s${i}`])]))
}

async function viaReport (sql: Sql, dims: readonly string[], filters: ReadonlyMap<string, readonly string[]>): Promise<string[]> {
  const r: Range = { width: '1h', widthMs: HOUR, from: START, to: START + HOURS * HOUR, end: START + HOURS * HOUR, groupBy: dims, filters }
  return (await sumUsage(sql, r, dims, COLUMNS)).map((x) => JSON.stringify([x.bucket, ...dims.map((d) => x.dims[d] ?? null), ...COLUMNS.map((c) => x.sums[c])]))
}

t.test('usage_org_hours gives exactly what usage_hours gives for hour reports without a person', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const rand = prng(20_021)
  await writeUsage(sql, rows(rand, 400))
  await sql.begin(async (tx) => { await writeUsage(tx as unknown as Sql, rows(rand, 400)) })
  await writeUsage(sql, rows(rand, 50))
  const [n] = await sql<Array<{ org: number, hours: number }>>`select (select count(*) from usage_org_hours)::int as org, (select count(distinct hour) from usage_hours)::int as hours`
  t.ok((n?.org ?? 0) > 0 && (n?.org ?? 0) < 850, `the organization's table holds fewer rows (${n?.org ?? 0}) than the minutes written`)
  const shapes: Array<[string[], Map<string, string[]>]> = [
    [[], new Map()], [['model'], new Map()], [['speed'], new Map()], [['upstream', 'context_window'], new Map()],
    [['model', 'speed'], new Map([['models', ['claude-opus-4-6']]])], [[], new Map([['speeds', ['fast']]])],
  ]
  for (const [dims, filters] of shapes) {
    const want = await reference(sql, dims, filters)
    t.ok(want.length > 0, `${dims.join('+') || 'totals'} has rows`)
    t.same(await viaReport(sql, dims, filters), want, `group_by ${dims.join(', ') || '(none)'} ${[...filters.keys()].join(', ')}`)
  }
  await sql`insert into usage_org_hours (hour, model, requests) values (now() - interval '14 months', 'm', 1)`
  await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: 0 })
  const [old] = await sql<Array<{ n: string }>>`select count(*)::text as n from usage_org_hours where hour < now() - interval '13 months'`
  t.equal(old?.n, '0', 'swept after spend_retention_months')
})
