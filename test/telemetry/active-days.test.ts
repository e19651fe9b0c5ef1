/**
 * Migration 0025: the per-day counts of active developers `claude_code_day_people` and the
 * per-developer, per-year bitmaps of active days `claude_code_principal_years` stay equal to the
 * (day, developer) pairs `claude_code_day_principals` (and so to `claude_code_daily`'s distinct
 * pairs), exactly, against real Postgres: bit by bit (no bit without a pair, no pair without its
 * bit, no all-zero row, no bit past a year's last day), across a year boundary and on day 366 of a
 * leap year, after random inserts, updates and deletes, after a developer is erased, after the
 * retention sweep (old years lose their rows), with several connections writing and erasing at
 * once, and when the migration fills both from rows written before it. The console's `people`
 * (lib/console/analytics.ts), per day and over the range, equals the raw rows' distinct count for
 * every range tried, including ranges that cross a year and the longest one. `yearMasks` is
 * checked on its own.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { analyticsTotals, MAX_DAYS, yearMasks } from '../../lib/console/analytics.js'
import { listMigrations, migrate } from '../../lib/store/migrate.js'
import type { Sql } from '../../lib/store/db.js'
import { sweepRetention } from '../../lib/store/sweeps.js'
import { freshDatabase } from '../helpers/pg.js'

type J = any // eslint-disable-line @typescript-eslint/no-explicit-any

const DAY_MS = 86_400_000
const dayText = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
const ms = (day: string): number => Date.parse(`${day}T00:00:00Z`)

/** A small deterministic generator (mulberry32), so a failure reproduces. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Every way 0025's tables (and 0024's pairs) differ from what the raw rows imply; [] when none. */
async function mismatches (sql: Sql): Promise<unknown[]> {
  return [...await sql`
    select 'pair' as kind, coalesce(r.day, p.day)::text as day, coalesce(r.principal, p.principal) as principal
    from (select distinct day, principal from claude_code_daily) r
      full join claude_code_day_principals p on p.day = r.day and p.principal = r.principal
    where r.day is null or p.day is null`,
  ...await sql`
    select 'count' as kind, coalesce(r.day, c.day)::text as day, r.n as pairs, c.people::int as counted
    from (select day, count(*)::int as n from claude_code_day_principals group by 1) r
      full join claude_code_day_people c on c.day = r.day
    where coalesce(r.n, 0) <> coalesce(c.people, 0) or c.people <= 0`,
  ...await sql`
    select 'bit' as kind, coalesce(b.day, p.day)::text as day, coalesce(b.principal, p.principal) as principal, b.year
    from (select y.year, y.principal, make_date(y.year, 1, 1) + i as day
          from claude_code_principal_years y, generate_series(0, 365) i where get_bit(y.days, i) = 1) b
      full join claude_code_day_principals p on p.day = b.day and p.principal = b.principal
    where b.day is null or p.day is null or extract(year from b.day) <> b.year`,
  ...await sql`select 'zero row' as kind, year, principal from claude_code_principal_years where days = 0::bit(366)`]
}

/** People per active day and over [a, b), from the raw rows. */
async function rawPeople (sql: Sql, a: string, b: string): Promise<J> {
  const rows = await sql`
    select day::text as day, count(distinct principal)::int as people from claude_code_daily
    where day >= ${a}::date and day < ${b}::date group by grouping sets ((day), ()) order by day nulls last`
  const total = rows.find((r) => r.day === null)
  return [...rows.filter((r) => r.day !== null).map((r) => [r.day, r.people]), [null, total?.people ?? 0]]
}

/** The same from the console's answer. */
async function consolePeople (sql: Sql, a: string, b: string): Promise<J> {
  const r = await analyticsTotals(sql, new URLSearchParams({ starting_at: a, ending_at: b }))
  if (!('json' in r)) throw new Error(r.message)
  const j = r.json as J
  return [...(j.data as J[]).filter((d) => d.people > 0).map((d) => [(d.date as string).slice(0, 10), d.people]), [null, j.total.people]]
}

async function put (sql: Sql, rows: Array<[string, string]>): Promise<void> {
  await sql`
    insert into claude_code_daily (day, principal, metric, k1, k2, value)
    select t.d::date, t.p, 'session.count', '', '', count(*) from unnest(${rows.map((r) => r[0])}::text[], ${rows.map((r) => r[1])}::text[]) as t(d, p)
    group by 1, 2 order by 1, 2
    on conflict (day, principal, metric, k1, k2) do update set value = claude_code_daily.value + excluded.value`
}

t.test('yearMasks: one or two years, one bit per day of the range, day 366 only in leap years', async (t) => {
  const ones = (m: string): number => m.split('').filter((c) => c === '1').length
  const one = yearMasks(ms('2026-03-01'), ms('2026-03-04'))
  t.same(one.map((m) => m.year), [2026])
  t.equal(one[0]?.mask.length, 366)
  t.equal(one[0]?.mask.indexOf('1'), 59, '1 March 2026 is day 60 (bit 59)')
  t.equal(ones(one[0]?.mask ?? ''), 3)
  const leap = yearMasks(ms('2028-01-01'), ms('2029-01-01'))
  t.same(leap.map((m) => [m.year, ones(m.mask)]), [[2028, 366]], 'a whole leap year: 366 bits, and no second year')
  const plain = yearMasks(ms('2027-01-01'), ms('2028-01-01'))
  t.same(plain.map((m) => [m.year, ones(m.mask), m.mask[365]]), [[2027, 365, '0']], 'a whole plain year: bit 365 stays 0')
  const across = yearMasks(ms('2028-12-31'), ms('2029-01-02'))
  t.same(across.map((m) => [m.year, m.mask.indexOf('1'), ones(m.mask)]), [[2028, 365, 1], [2029, 0, 1]], 'across New Year: 31 December of a leap year, then 1 January')
  const longest = yearMasks(ms('2027-07-01'), ms('2027-07-01') + MAX_DAYS * DAY_MS)
  t.same(longest.map((m) => m.year), [2027, 2028])
  t.equal(longest.reduce((n, m) => n + ones(m.mask), 0), MAX_DAYS, 'the longest range: as many bits as days')
})

t.test('across a year boundary and on day 366 of a leap year', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await put(sql, [['2027-12-31', 'p-dec'], ['2028-01-01', 'p-jan'], ['2027-12-31', 'p-both'], ['2028-01-01', 'p-both'],
    ['2028-12-31', 'p-366'], ['2029-01-01', 'p-2029'], ['2028-02-29', 'p-feb29'], ['2027-03-01', 'p-mar'], ['2028-03-01', 'p-mar']])
  t.same(await mismatches(sql), [])
  const bits = async (p: string, year: number): Promise<number[]> => {
    const [r] = await sql`select days::text as d from claude_code_principal_years where principal = ${p} and year = ${year}`
    return [...(r?.d as string ?? '')].flatMap((c, i) => c === '1' ? [i] : [])
  }
  t.same(await bits('p-366', 2028), [365], '31 December 2028 is bit 365')
  t.same(await bits('p-dec', 2027), [364], '31 December 2027 is bit 364')
  t.same([await bits('p-mar', 2027), await bits('p-mar', 2028)], [[59], [60]], '1 March moves a bit after 29 February')
  t.same(await bits('p-feb29', 2028), [59])
  t.same(await bits('p-both', 2027), [364])
  t.same(await bits('p-both', 2028), [0])
  const expect: Array<[string, string, number]> = [
    ['2027-12-31', '2028-01-01', 2], ['2028-01-01', '2028-01-02', 2], ['2027-12-30', '2028-01-02', 3],
    ['2028-12-31', '2029-01-01', 1], ['2028-12-31', '2029-01-02', 2], ['2028-12-30', '2028-12-31', 0],
    ['2028-01-01', '2029-01-01', 5], ['2028-01-02', '2029-01-01', 3], ['2027-01-01', '2028-01-01', 3],
    ['2027-12-31', '2028-12-31', 5], ['2028-02-29', '2028-03-01', 1], ['2028-02-28', '2028-03-02', 2],
    ['2028-01-02', '2029-01-02', 4]]
  for (const [a, b, n] of expect) {
    const got = await consolePeople(sql, a, b)
    t.same(got, await rawPeople(sql, a, b), `[${a}, ${b}) equals the raw rows`)
    t.equal(got.at(-1)[1], n, `[${a}, ${b}): ${n} developer(s)`)
  }
})

t.test('random inserts, updates and deletes keep every bit and count; random ranges equal the raw rows', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const r = rng(25)
  const start = ms('2027-10-01')
  const span = 200
  const pick = (): [string, string] => [dayText(start + Math.floor(r() * span) * DAY_MS), `u${Math.floor(r() * 30)}`]
  for (let round = 0; round < 8; round++) {
    await put(sql, Array.from({ length: 150 }, pick))
    // Another metric for some pairs, so deleting one row of a pair does not always end the pair.
    const more = Array.from({ length: 40 }, pick)
    await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value)
      select distinct t.d::date, t.p, 'commit.count', '', '', 2 from unnest(${more.map((x) => x[0])}::text[], ${more.map((x) => x[1])}::text[]) as t(d, p)
      order by 1, 2 on conflict do nothing`
    const gone = Array.from({ length: 25 }, pick)
    await sql`delete from claude_code_daily where (day, principal) in (select t.d::date, t.p from unnest(${gone.map((x) => x[0])}::text[], ${gone.map((x) => x[1])}::text[]) as t(d, p))`
    const [x, y] = pick()
    await sql`delete from claude_code_daily where day = ${x}::date and principal = ${y} and metric = 'commit.count'`
    t.same(await mismatches(sql), [], `round ${round}: equal`)
  }
  t.ok(Number((await sql`select count(*)::int as n from claude_code_principal_years where year = 2028`)[0]?.n) > 10, 'both years hold developers')
  for (let i = 0; i < 30; i++) {
    const a = start - 10 * DAY_MS + Math.floor(r() * (span + 20)) * DAY_MS
    const len = 1 + Math.floor(r() * MAX_DAYS)
    t.same(await consolePeople(sql, dayText(a), dayText(a + len * DAY_MS)), await rawPeople(sql, dayText(a), dayText(a + len * DAY_MS)), `${len} days from ${dayText(a)}`)
  }
})

t.test('erasing a developer clears their bits and rows; the retention sweep drops old days and years', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value) values
    ((now() - interval '14 months')::date, 'old-only', 'commit.count', '', '', 1),
    ((now() - interval '14 months')::date, 'both', 'commit.count', '', '', 2),
    ((now() - interval '12 months')::date, 'both', 'commit.count', '', '', 4),
    (now()::date, 'erased', 'cost.usage', '', 'm', 0.5), ((now() - interval '12 months')::date, 'erased', 'commit.count', '', '', 1),
    (now()::date, 'kept', 'cost.usage', '', 'm', 0.5)`
  // What a run stopped at its batch limit leaves: a pair of a day past the cutoff whose raw rows are gone.
  await sql`insert into claude_code_day_principals (day, principal) values ((now() - interval '15 months')::date, 'left')`
  await sql`delete from claude_code_daily where principal = 'left'`
  t.same((await sql`select count(*)::int as n from claude_code_principal_years where principal = 'left'`)[0]?.n, 1, 'the leftover pair has its bit')

  await sql`delete from claude_code_daily where principal = 'erased'`
  t.same((await sql`select count(*)::int as n from claude_code_principal_years where principal = 'erased'`)[0]?.n, 0, 'an erased developer keeps no bitmap')
  const today = dayText(Date.now())
  const yearAgo = (await sql`select ((now() - interval '14 months')::date)::text as d`)[0]?.d as string
  const yearOn = dayText(ms(yearAgo) + MAX_DAYS * DAY_MS)
  t.same((await consolePeople(sql, yearAgo, yearOn)).at(-1), [null, 2], 'old-only and both in the year from 14 months ago')
  t.same(await consolePeople(sql, today, dayText(Date.now() + DAY_MS)), [[today, 1], [null, 1]], 'today: kept only')

  const res = await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: 0 })
  t.same(res.spend, 3, 'the two old raw rows and the leftover pair')
  const years = await sql`select principal, year, length(replace(days::text, '0', ''))::int as n from claude_code_principal_years order by 1, 2`
  t.same(years.map((y) => [y.principal, y.n]), [['both', 1], ['kept', 1]], 'old-only and left lost every row; both keeps one day')
  t.same((await sql`select count(*)::int as n from claude_code_day_people where day < (now() - interval '13 months')::date`)[0]?.n, 0, 'no count older than the window')
  t.same(await mismatches(sql), [])
  t.same(await consolePeople(sql, yearAgo, yearOn), await rawPeople(sql, yearAgo, yearOn))
  t.same((await consolePeople(sql, yearAgo, yearOn)).at(-1), [null, 1], 'both only, after the sweep')
})

t.test('several connections writing and erasing at once: nothing lost, nothing left over', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 8 })
  const days = ['2027-12-29', '2027-12-30', '2027-12-31', '2028-01-01', '2028-01-02', '2028-12-31', '2029-01-01']
  // A statement that loses a deadlock rolls back whole (its triggers' work included); the writer
  // keeps its rows and tries again, and so do these.
  let retried = 0
  const again = async (f: () => Promise<unknown>): Promise<void> => {
    for (;;) {
      try { await f(); return } catch (err) {
        if ((err as { code?: string }).code !== '40P01') throw err
        retried++
      }
    }
  }
  const writer = async (seed: number, rounds: number): Promise<void> => {
    const r = rng(seed)
    for (let round = 0; round < rounds; round++) {
      const rows = Array.from({ length: 60 }, (): [string, string] => [days[Math.floor(r() * days.length)] as string, `u${Math.floor(r() * 24)}`])
      await again(async () => { await put(sql, rows) })
    }
  }
  // Writers alone (replicas flushing the same days and developers): every statement goes through.
  await Promise.all([writer(1, 10), writer(2, 10), writer(3, 10), writer(4, 10), writer(5, 10)])
  t.equal(retried, 0, 'writers alone never deadlock')
  t.same(await mismatches(sql), [], 'writers alone: counts and bitmaps equal the pairs')

  const eraser = async (seed: number): Promise<number> => {
    const r = rng(seed)
    let n = 0
    for (let round = 0; round < 12; round++) {
      const p = `u${Math.floor(r() * 24)}`
      await again(async () => { n += (await sql`delete from claude_code_daily where principal = ${p}`).count })
      const d = days[Math.floor(r() * days.length)] as string
      if (round % 4 === 3) await again(async () => { n += (await sql`delete from claude_code_daily where day = ${d}::date`).count })
    }
    return n
  }
  const [, , , , erased] = await Promise.all([writer(6, 12), writer(7, 12), writer(8, 12), writer(9, 12), eraser(10)])
  t.ok(erased > 0, `the eraser removed rows while the writers wrote (${retried} statement(s) retried after a deadlock)`)
  t.ok(Number((await sql`select count(*)::int as n from claude_code_principal_years`)[0]?.n) > 0, 'and developers remain')
  t.same(await mismatches(sql), [], 'counts and bitmaps equal the pairs')
  for (const [a, b] of [['2027-12-29', '2028-01-03'], ['2027-12-31', '2028-12-31'], ['2028-01-01', '2029-01-01'], ['2028-01-02', '2029-01-02'], ['2028-12-31', '2029-01-02']]) {
    t.same(await consolePeople(sql, a as string, b as string), await rawPeople(sql, a as string, b as string), `[${a}, ${b})`)
  }
})

t.test('migration 0025 fills the counts and bitmaps from the pairs written before it', async (t) => {
  const { sql } = await freshDatabase(t)
  const dir = mkdtempSync(join(tmpdir(), 'weir-mig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const m of listMigrations()) if (m.version < 25) copyFileSync(m.file, join(dir, `${String(m.version).padStart(4, '0')}_${m.name}.sql`))
  await migrate(sql, { dir })
  await put(sql, [['2027-12-31', 'u1'], ['2028-01-01', 'u1'], ['2028-12-31', 'u2'], ['2028-12-31', 'u3'], ['2026-06-01', 'u3']])
  t.same(await migrate(sql), [25])
  t.same((await sql`select day::text as d, people::int as n from claude_code_day_people order by 1`).map((r) => [r.d, r.n]),
    [['2026-06-01', 1], ['2027-12-31', 1], ['2028-01-01', 1], ['2028-12-31', 2]])
  t.same((await sql`select year, principal from claude_code_principal_years order by 1, 2`).map((r) => [r.year, r.principal]),
    [[2026, 'u3'], [2027, 'u1'], [2028, 'u1'], [2028, 'u2'], [2028, 'u3']])
  t.same(await mismatches(sql), [])
  for (const [a, b] of [['2027-12-31', '2028-12-31'], ['2028-01-01', '2029-01-01'], ['2026-06-01', '2027-06-01']]) {
    t.same(await consolePeople(sql, a as string, b as string), await rawPeople(sql, a as string, b as string), `[${a}, ${b})`)
  }
  await put(sql, [['2028-01-01', 'u4']])
  t.same(await mismatches(sql), [], 'and the triggers keep them after')
})
