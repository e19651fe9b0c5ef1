/**
 * Migration 0024: the organization's Claude Code day sums `claude_code_org_days` and the active
 * developers `claude_code_day_principals` stay equal to `claude_code_daily` summed over developers
 * and to its distinct (day, developer) pairs, exactly, against real Postgres — after writes through
 * the real writer (lib/telemetry/analytics.ts: OTLP bodies read, delta and cumulative series,
 * repeated and restarted values, several flushes so rows are inserted then updated, two writers
 * flushing the same keys at once), after a developer is erased, and after the retention sweep,
 * which also removes old rows the triggers left (a partial run). Filling at migration time: rows
 * written before 0024 are summed into the rollup when it applies. The console's totals
 * (lib/console/analytics.ts), read from the rollup, equal the same figures computed from the raw
 * rows.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { analyticsTotals } from '../../lib/console/analytics.js'
import { listMigrations, migrate } from '../../lib/store/migrate.js'
import type { Sql } from '../../lib/store/db.js'
import { sweepRetention } from '../../lib/store/sweeps.js'
import { CodeAnalytics } from '../../lib/telemetry/analytics.js'
import { type CodePoint, extractCodePoints } from '../../lib/telemetry/cc-metrics.js'
import { freshDatabase } from '../helpers/pg.js'
import { type CcPoint, ccMetrics, DAY_POINTS } from '../reports/cc-otlp.js'

type J = any // eslint-disable-line @typescript-eslint/no-explicit-any

const D1 = Date.UTC(2026, 2, 10, 12)
const D2 = Date.UTC(2026, 2, 11, 9)

/** The points of one OTLP body, read as the primary reads it. */
function points (ps: readonly CcPoint[], at: number, cumulative = false): CodePoint[] {
  const b = ccMetrics(ps, { at, format: 'protobuf', cumulative, start: at - 3_600_000 })
  return extractCodePoints({ body: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, json: false, gzip: false, maxBytes: 1 << 20, now: at })
}

/** Rollup rows that differ from the raw rows summed (either side missing counts as 0). */
async function mismatches (sql: Sql): Promise<unknown[]> {
  return [...await sql`
    select coalesce(r.day, o.day)::text as day, coalesce(r.metric, o.metric) as metric, coalesce(r.k1, o.k1) as k1, coalesce(r.k2, o.k2) as k2,
      r.v::text as raw, o.value::text as rollup
    from (select day, metric, k1, k2, sum(value) as v from claude_code_daily group by 1, 2, 3, 4) r
      full join claude_code_org_days o on o.day = r.day and o.metric = r.metric and o.k1 = r.k1 and o.k2 = r.k2
    where coalesce(r.v, 0) <> coalesce(o.value, 0)`,
  ...await sql`
    select coalesce(r.day, p.day)::text as day, coalesce(r.principal, p.principal) as principal, r.day is null as extra
    from (select distinct day, principal from claude_code_daily) r
      full join claude_code_day_principals p on p.day = r.day and p.principal = r.principal
    where r.day is null or p.day is null`]
}

/** The console's answer computed from the raw rows: people per day and over the range, and a few sums. */
async function rawFigures (sql: Sql, a: string, b: string): Promise<J> {
  const rows = await sql`
    select day::text as day, count(distinct principal)::int as people,
      coalesce(sum(value) filter (where metric = 'commit.count'), 0)::text as commits,
      coalesce(sum(value) filter (where metric = 'token.usage' and k1 = 'input'), 0)::text as input,
      coalesce(sum(value) filter (where metric = 'cost.usage') * 100, 0)::text as cents
    from claude_code_daily where day >= ${a}::date and day < ${b}::date
    group by grouping sets ((day), ()) order by day nulls last`
  return rows.map((r) => [r.day, r.people, Number(r.commits), Number(r.input), Number(r.cents)])
}

async function consoleFigures (sql: Sql, a: string, b: string): Promise<J> {
  const r = await analyticsTotals(sql, new URLSearchParams({ starting_at: a, ending_at: b }))
  if (!('json' in r)) throw new Error(r.message)
  const j = r.json as J
  const f = (d: J, day: string | null): J => [day, d.people, Number(d.commits_by_claude_code), Number(d.tokens.input), Number(d.estimated_cost.amount)]
  return [...(j.data as J[]).filter((d) => d.people > 0).map((d) => f(d, (d.date as string).slice(0, 10))), f(j.total, null)]
}

t.test('the rollup equals the raw rows summed after writes through the real writer', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const w = new CodeAnalytics(sql, null, 1 << 20, 60_000)
  t.teardown(async () => { await w.stop(0) })

  w.add('u-ann', points(DAY_POINTS, D1))
  w.add('u-bob', points(DAY_POINTS, D1))
  w.add('u-cat', points([['commit.count', { 'session.id': 's-c' }, 5], ['token.usage', { type: 'input', model: 'claude-sonnet-4-5', 'session.id': 's-c' }, 1000]], D1, true))
  await w.flush()
  t.same(await mismatches(sql), [], 'first flush (rows inserted): the rollup equals the raw sums')
  t.ok(Number((await sql`select count(*)::int as n from claude_code_org_days`)[0]?.n) > 5, 'and holds rows')

  // The cumulative series again: the same value (no increase), then a higher one, then a restart.
  w.add('u-cat', points([['commit.count', { 'session.id': 's-c' }, 5]], D1, true))
  w.add('u-cat', points([['commit.count', { 'session.id': 's-c' }, 8], ['token.usage', { type: 'input', model: 'claude-sonnet-4-5', 'session.id': 's-c' }, 1500]], D1, true))
  w.add('u-ann', points(DAY_POINTS, D1))
  await w.flush()
  t.same(await mismatches(sql), [], 'second flush (rows updated): still equal')
  w.add('u-cat', points([['commit.count', { 'session.id': 's-c' }, 2]], D1, true))
  w.add('u-bob', points(DAY_POINTS, D2))
  await w.flush()
  t.same(await mismatches(sql), [], 'a restarted series and a new day: still equal')
  const cat = await sql`select value::text as v from claude_code_daily where principal = 'u-cat' and metric = 'commit.count'`
  t.same(cat.map((r) => r.v), ['10'], 'the cumulative series added 5, then 3, then 2 (restarted) to the developer row')
  const dayCommits = await sql`select value::text as v from claude_code_org_days where day = '2026-03-10' and metric = 'commit.count'`
  const annCommits = await sql`select value::text as v from claude_code_daily where day = '2026-03-10' and metric = 'commit.count' and principal = 'u-ann'`
  t.same(dayCommits.map((r) => r.v), [String(10 + 3 * Number(annCommits[0]?.v) / 2)], 'and the same increases to the organization row (ann twice, bob once, cat 10)')
  t.same((await sql`select day::text as d, principal as p from claude_code_day_principals order by 1, 2`).map((r) => [r.d, r.p]),
    [['2026-03-10', 'u-ann'], ['2026-03-10', 'u-bob'], ['2026-03-10', 'u-cat'], ['2026-03-11', 'u-bob']], 'the active developers, once per day')

  // Two writers (two replicas) flushing the same keys at once: no deadlock, nothing lost.
  const w2 = new CodeAnalytics(sql, null, 1 << 20, 60_000)
  for (let round = 0; round < 6; round++) {
    for (const [i, x] of [w, w2].entries()) {
      for (let u = 0; u < 40; u++) x.add(`u-${i}-${u}`, points(DAY_POINTS, round % 2 === 0 ? D1 : D2))
      x.add('u-ann', points(DAY_POINTS, D2))
    }
    await Promise.all([w.flush(), w2.flush()])
  }
  t.same([w.backlog, w2.backlog, w.dropped, w2.dropped], [0, 0, 0, 0], 'both writers wrote everything')
  t.same(await mismatches(sql), [], 'two writers at once: still equal')
  t.same(await consoleFigures(sql, '2026-03-09', '2026-03-13'), await rawFigures(sql, '2026-03-09', '2026-03-13'), 'the console totals equal the raw rows summed')

  await sql`delete from claude_code_daily where principal = 'u-ann'`
  t.same(await mismatches(sql), [], 'a developer erased: their share and their days leave the rollup')
  t.same((await sql`select count(*)::int as n from claude_code_day_principals where principal = 'u-ann'`)[0]?.n, 0)
  t.same(await consoleFigures(sql, '2026-03-09', '2026-03-13'), await rawFigures(sql, '2026-03-09', '2026-03-13'), 'and the console totals follow')
  await sql`delete from claude_code_daily where day = '2026-03-11'`
  t.same(await mismatches(sql), [], 'a whole day deleted')
  t.same((await sql`select count(*)::int as n from claude_code_org_days where day = '2026-03-11'`)[0]?.n, 0, 'leaves no rollup row for it')
})

t.test('the retention sweep removes old rollup rows with claude_code_daily\'s rule', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value) values
    ((now() - interval '14 months')::date, 'u1', 'commit.count', '', '', 1), ((now() - interval '14 months')::date, 'u2', 'commit.count', '', '', 2),
    ((now() - interval '12 months')::date, 'u1', 'commit.count', '', '', 4), (now()::date, 'u2', 'cost.usage', '', 'm', 0.5)`
  // What a run stopped at its batch limit leaves: rollup rows of a day past the cutoff whose raw rows are gone.
  await sql`insert into claude_code_org_days (day, metric, value) values ((now() - interval '15 months')::date, 'session.count', 3)`
  await sql`insert into claude_code_day_principals (day, principal) values ((now() - interval '15 months')::date, 'u9')`
  const r = await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: 0 })
  t.same(r, { audit: 0, spend: 4, identity: 0 }, 'the two old raw rows, then the leftover rollup and active-developer rows')
  const left = async (table: string): Promise<number> => Number((await sql`select count(*)::int as n from ${sql(table)} where day < (now() - interval '13 months')::date`)[0]?.n)
  t.same([await left('claude_code_daily'), await left('claude_code_org_days'), await left('claude_code_day_principals')], [0, 0, 0], 'nothing older than the window anywhere')
  t.same((await sql`select metric, value::text as v from claude_code_org_days order by day`).map((x) => [x.metric, x.v]), [['commit.count', '4'], ['cost.usage', '0.5']], 'the days inside the window stay')
  t.same(await mismatches(sql), [])
})

t.test('migration 0024 fills the rollup from the rows written before it', async (t) => {
  const { sql } = await freshDatabase(t)
  const dir = mkdtempSync(join(tmpdir(), 'weir-mig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const m of listMigrations()) if (m.version < 24) copyFileSync(m.file, join(dir, `${String(m.version).padStart(4, '0')}_${m.name}.sql`))
  await migrate(sql, { dir })
  await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value) values
    ('2026-03-01', 'u1', 'cost.usage', '', 'm', 0.000001), ('2026-03-01', 'u2', 'cost.usage', '', 'm', 12.5),
    ('2026-03-01', 'u2', 'token.usage', 'input', 'm', 7), ('2026-03-02', 'u1', 'token.usage', 'input', 'm', 9)`
  t.same(await migrate(sql), [24, 25])
  t.same((await sql`select day::text as d, metric, value::text as v from claude_code_org_days order by 1, 2`).map((r) => [r.d, r.metric, r.v]),
    [['2026-03-01', 'cost.usage', '12.500001'], ['2026-03-01', 'token.usage', '7'], ['2026-03-02', 'token.usage', '9']], 'summed exactly')
  t.same(await mismatches(sql), [])
})
