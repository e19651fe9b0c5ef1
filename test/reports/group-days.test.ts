/**
 * The per-group day sums (`usage_group_days`, migration 0020) against the per-developer hourly
 * rows they stand in for: after every kind of change — minutes metered before and after a
 * developer's identity is known, groups changed, duplicated, emptied or not an array, an identity
 * swept, a flush inside a transaction — every day report grouped by `idp_group` (alone, with
 * model, upstream, speed and context window, with an idp_groups filter) gives exactly, to the
 * micro-cent and token, what the join over `usage_hours` and `principal_emails` gives. Also: the
 * retention sweep deletes old group days, and zero rows left behind by a move are removed.
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

const DAY = 86_400_000
const START = Date.parse('2026-02-01T00:00:00Z')
const DAYS = 6
const COLUMNS = ['requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'web_search_requests',
  'input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents']
const PEOPLE = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']

/** Random minute rows for `n` requests over the test days, with costs up to 10^12 micro-cents. */
function rows (rand: () => number, n: number): UsageRow[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  // One row per key, as the flush hands them over (lib/metering/usage.ts sums a batch per key).
  const byKey = new Map<string, UsageRow>()
  for (const r of Array.from({ length: n }, () => ({
    minute: START + Math.floor(rand() * DAYS * 1440) * 60_000,
    principal: pick(PEOPLE),
    model: pick(['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-6']),
    upstream: pick(['anthropic', 'bedrock', '']),
    long: rand() < 0.2,
    fast: rand() < 0.2,
    v: COLUMNS.map((c, i) => i === 0 ? 1 : Math.floor(rand() * (c.endsWith('micro_cents') ? 1e12 : 1e6))),
  }))) {
    const k = JSON.stringify([r.minute, r.principal, r.model, r.upstream, r.long, r.fast])
    const had = byKey.get(k)
    byKey.set(k, had === undefined ? r : { ...had, v: had.v.map((x, i) => x + (r.v[i] as number)) })
  }
  return [...byKey.values()]
}

/** The report query as it reads usage_hours (before migration 0020), for day buckets by group. */
async function reference (sql: Sql, dims: readonly string[], groups: readonly string[] | null): Promise<string[]> {
  const dim: Record<string, string> = { idp_group: 'g.name', model: 'u.model', upstream: "nullif(u.upstream, '')", speed: "case when u.fast then 'fast' else 'standard' end", context_window: "case when u.long_context then '200k-1M' else '0-200k' end" }
  const rs = await sql.unsafe(`
    select (floor(extract(epoch from u.hour) / 86400) * 86400)::bigint::text as b, ${dims.map((d, i) => `${dim[d] as string} as d${i}`).join(', ')},
      ${COLUMNS.map((c, i) => `sum(u.${c})::text as s${i}`).join(', ')}
    from usage_hours u left join principal_emails e on e.principal = u.principal
    left join lateral jsonb_array_elements_text(case when jsonb_typeof(e.groups) = 'array' then e.groups else '[]'::jsonb end) as g(name) on true
    where u.hour >= $1::timestamptz and u.hour < $2::timestamptz ${groups === null ? '' : 'and g.name = any($3::text[])'}
    group by 1${dims.map((_d, i) => `, ${i + 2}`).join('')} order by 1${dims.map((_d, i) => `, ${i + 2} nulls last`).join('')}`,
  [new Date(START).toISOString(), new Date(START + DAYS * DAY).toISOString(), ...(groups === null ? [] : [groups])] as never[]) as unknown as Array<Record<string, string | null>>
  return rs.map((r) => JSON.stringify([Number(r.b) * 1000, ...dims.map((_d, i) => r[`d${i}`] ?? null), ...COLUMNS.map((_c, i) => r[`s${i}`])]))
}

async function viaReport (sql: Sql, dims: readonly string[], groups: readonly string[] | null): Promise<string[]> {
  const r: Range = { width: '1d', widthMs: DAY, from: START, to: START + DAYS * DAY, end: START + DAYS * DAY, groupBy: dims, filters: new Map(groups === null ? [] : [['idp_groups', groups]]) }
  const out = await sumUsage(sql, r, dims, COLUMNS)
  return out.map((x) => JSON.stringify([x.bucket, ...dims.map((d) => x.dims[d] ?? null), ...COLUMNS.map((c) => x.sums[c])]))
}

const SHAPES: Array<[string[], string[] | null]> = [
  [['idp_group'], null], [['idp_group', 'model'], null], [['model', 'idp_group', 'upstream'], null],
  [['idp_group', 'speed', 'context_window'], null], [['idp_group'], ['eng', 'ml']], [['upstream', 'idp_group'], ['ops']],
]

t.test('usage_group_days gives exactly what usage_hours gives, through every identity change', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const rand = prng(20_020)
  const same = async (when: string): Promise<void> => {
    for (const [dims, groups] of SHAPES) {
      const want = await reference(sql, dims, groups)
      if (groups === null) t.ok(want.length > 0, `${when}: ${dims.join('+')} has rows`)
      t.same(await viaReport(sql, dims, groups), want, `${when}: group_by ${dims.join(', ')}${groups === null ? '' : ` filtered to ${groups.join(', ')}`}`)
    }
    const [table] = await sql<Array<{ n: string }>>`select count(*)::text as n from usage_group_days where requests = 0`
    t.equal(table?.n, '0', `${when}: no all-zero rows left behind`)
  }

  await writeUsage(sql, rows(rand, 300))
  await same('metered before any identity is known (all under null)')

  await sql`insert into principal_emails (principal, email, groups) values
    ('p0', 'a@x', '["eng","ml"]'), ('p1', 'b@x', '["eng"]'), ('p2', 'c@x', '["ops","eng","ops"]'), ('p3', 'd@x', '[]'),
    ('p4', 'e@x', '{"not":"an array"}'), ('p5', 'f@x', '["ml"]')`
  await same('identities first seen (duplicates, empty, not an array)')

  await writeUsage(sql, rows(rand, 300))
  await same('metered with identities known')

  await sql`update principal_emails set groups = '["ops"]' where principal = 'p0'`
  await sql`update principal_emails set groups = '[]' where principal = 'p5'`
  await sql`update principal_emails set groups = '["ml","new"]' where principal = 'p3'`
  await sql`update principal_emails set email = 'b2@x' where principal = 'p1'`
  await same('groups changed, emptied and filled; an email changed')

  await sql.begin(async (tx) => {
    await writeUsage(tx as unknown as Sql, rows(rand, 200))
    await tx`insert into principal_emails (principal, email, groups) values ('p6', 'g@x', '["eng"]')
      on conflict (principal) do update set groups = excluded.groups`
  })
  await same('a flush and a first sign-in in one transaction')

  await sql`delete from principal_emails where principal in ('p2', 'p6')`
  await same('identities swept (back under null)')

  await sql`update principal_emails set groups = groups where principal = 'p0'`
  await sql`update principal_emails set groups = '["ops"]'::jsonb where principal = 'p0'`
  await same('an update that changes nothing')

  // Retention: the sweep removes group days with the hours they sum.
  await sql`insert into usage_group_days (day, idp_group, model, requests, input_micro_cents) values (now() - interval '14 months', 'eng', 'm', 1, 5)`
  await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: 0 } as never)
  const [old] = await sql<Array<{ n: string }>>`select count(*)::text as n from usage_group_days where day < now() - interval '13 months'`
  t.equal(old?.n, '0', 'swept after spend_retention_months')
  const [kept] = await sql<Array<{ n: string }>>`select count(*)::text as n from usage_group_days`
  t.ok(Number(kept?.n) > 0, 'recent group days kept')
})
