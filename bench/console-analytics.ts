/**
 * The console's Claude Code analytics page data at fleet scale:
 * `node dist/bench/console-analytics.js [--users 5000] [--days 30] [--repeat 5] [--ranges 7,30,90,365] [--before FILE] [--quick]`.
 *
 * Generates, in a real Postgres (DATABASE_URL, or a throwaway server started here),
 * `claude_code_daily` rows for `--users` developers over `--days` days ending today (12 metric rows
 * per developer and day, as bench/reports.ts does), with `INSERT … SELECT generate_series`. Then
 * times, on the primary's query path, what the page asks for: the per-day totals
 * (`/console/api/analytics`, lib/console/analytics.ts) over 7 days and over the whole range, and
 * one per-person page of 50 — and, for comparison, what the page used to do for its 7-day chart:
 * every developer's record of each of the 7 days through the claude_code report, 1000 a page —
 * and what the totals cost before migration 0024 (the same grouped query over the raw
 * `claude_code_daily` rows, 30 days), and, logged once, the active developers counted from
 * claude_code_daily's primary key (the alternative to `claude_code_day_principals`). The
 * generation goes through claude_code_daily's triggers, so it also fills the rollup.
 * Each shape runs `--repeat` times after one warm-up; p50 and max in ms, and the answer's size.
 * `--ranges` times the totals over each of those ranges (days, ending today; default 7 and
 * `--days`); `--before FILE` (a built lib/console/analytics.js of an earlier commit, for example
 * one transpiled from `git show 43bee2e:lib/console/analytics.ts`) times that module's
 * analyticsTotals beside each, on the same data in the same run, and checks both answers are
 * equal, byte for byte; and,
 * in a transaction rolled back each time, the analytics writer's upsert of one row per developer
 * and metric for a day with no rows yet (every pair new) and again (every row updated), with and
 * without 0025's triggers. `--quick` skips the two slow comparisons with the raw rows and the old
 * chart (seconds to minutes each at a year). Rows are generated 30 days per statement.
 * Target: each request of the page under 200 ms. Writes bench/results/console-analytics-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { analyticsTotals } from '../lib/console/analytics.js'
import { claudeCodeUsage } from '../lib/reports/claude-code.js'
import { migrate } from '../lib/store/migrate.js'
import { ROOT } from '../lib/version.js'
import { startPostgresServer } from '../test/helpers/pg.js'

const { values } = parseArgs({ options: { users: { type: 'string' }, days: { type: 'string' }, repeat: { type: 'string' }, ranges: { type: 'string' }, before: { type: 'string' }, quick: { type: 'boolean' } } })
const USERS = Number(values.users ?? 5000)
const DAYS = Number(values.days ?? 30)
const REPEAT = Number(values.repeat ?? 5)
const RANGES = values.ranges === undefined ? [7, DAYS] : values.ranges.split(',').map(Number)
const QUICK = values.quick === true
const ROLLBACK = new Error('rollback')
const BEFORE = values.before
const METRICS = `(values (1, 'session.count', '', ''), (2, 'lines_of_code.count', 'added', ''), (3, 'lines_of_code.count', 'removed', ''),
  (4, 'commit.count', '', ''), (5, 'pull_request.count', '', ''), (6, 'code_edit_tool.decision', 'Edit', 'accept'),
  (7, 'code_edit_tool.decision', 'Edit', 'reject'), (8, 'code_edit_tool.decision', 'Write', 'accept'),
  (9, 'token.usage', 'input', 'claude-sonnet-4-5'), (10, 'token.usage', 'output', 'claude-sonnet-4-5'),
  (11, 'token.usage', 'cacheRead', 'claude-sonnet-4-5'), (12, 'cost.usage', '', 'claude-sonnet-4-5')) as m(i, metric, k1, k2)`

const DAY_MS = 86_400_000
const log = (s: string): void => { process.stderr.write(`${s}\n`) }
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

interface Row { shape: string, requests: number, kib: number, p50: number, p95: number, max: number }

const pct = (sorted: number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number

async function main (): Promise<void> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  const base = server?.url ?? process.env.DATABASE_URL as string
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe('drop database if exists weir_cc_bench with (force)')
  await admin.unsafe('create database weir_cc_bench')
  await admin.end()
  const u = new URL(base)
  u.pathname = '/weir_cc_bench'
  const sql = postgres(u.toString(), { max: 1, onnotice: () => {} })
  try {
    await migrate(sql)
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS
    const last = day(today)
    const t0 = performance.now()
    for (let back = DAYS - 1; back >= 0; back -= 30) {
      const lo = Math.max(0, back - 29)
      await sql.unsafe(`
        insert into claude_code_daily (day, principal, metric, k1, k2, value)
        select d::date, 'u' || lpad(u::text, 5, '0'), m.metric, m.k1, m.k2, 1 + (u * 13 + m.i * 7 + extract(doy from d)::int) % 50
        from generate_series($1::date - $2::int, $1::date - $3::int, interval '1 day') d
          cross join generate_series(1, $4::int) u
          cross join ${METRICS}`, [last, back, lo, USERS])
    }
    await sql`analyze`
    const [c] = await sql<Array<{ n: number, size: string }>>`select count(*)::int as n, pg_size_pretty(pg_database_size(current_database())) as size from claude_code_daily`
    log(`claude_code_daily: ${c?.n} rows (${USERS} developers × ${DAYS} days), database ${c?.size}, generated in ${((performance.now() - t0) / 1000).toFixed(1)} s (rollup triggers included)`)
    const [r] = await sql<Array<{ org: number, people: number, years: number }>>`select (select count(*) from claude_code_org_days)::int as org, (select count(*) from claude_code_day_principals)::int as people, (select count(*) from claude_code_principal_years)::int as years`
    log(`claude_code_org_days: ${r?.org} rows, claude_code_day_principals: ${r?.people} rows, claude_code_principal_years: ${r?.years} rows`)
    const first = day(today - (DAYS - 1) * DAY_MS)
    for (const table of QUICK ? [] : ['claude_code_daily', 'claude_code_day_principals']) {
      const count = async (): Promise<unknown> => await sql`select day, count(distinct principal) from ${sql(table)} where day >= ${first}::date group by grouping sets ((day), ())`
      await count()
      const s = performance.now()
      await count()
      log(`  active developers per day and over ${DAYS} days from ${table}: ${(performance.now() - s).toFixed(1)} ms`)
    }

    const time = async (shape: string, once: () => Promise<{ requests: number, bytes: number }>): Promise<Row> => {
      await once()
      const ts: number[] = []
      let last = { requests: 0, bytes: 0 }
      for (let i = 0; i < REPEAT; i++) {
        const s = performance.now()
        last = await once()
        ts.push(performance.now() - s)
      }
      ts.sort((a, b) => a - b)
      const row = { shape, requests: last.requests, kib: Math.round(last.bytes / 1024), p50: ts[Math.floor(ts.length / 2)] as number, p95: pct(ts, 0.95), max: ts.at(-1) as number }
      log(`  ${shape}: ${row.requests} request(s), ${row.kib} KiB; p50 ${row.p50.toFixed(1)} ms, p95 ${row.p95.toFixed(1)} ms, max ${row.max.toFixed(1)} ms`)
      return row
    }
    const one = async (f: () => Promise<unknown>): Promise<{ requests: number, bytes: number }> => {
      const r = await f() as { json?: unknown, message?: string }
      if (r.json === undefined) throw new Error(`refused: ${r.message ?? ''}`)
      return { requests: 1, bytes: typeof r.json === 'string' ? r.json.length : JSON.stringify(r.json).length }
    }
    const rows: Row[] = []
    type Totals = typeof analyticsTotals
    const before = BEFORE === undefined ? null : (await import(pathToFileURL(resolve(BEFORE)).href) as { analyticsTotals: Totals }).analyticsTotals
    for (const n of RANGES) {
      const q = new URLSearchParams({ starting_at: day(today - (n - 1) * DAY_MS) })
      const now = JSON.stringify(await analyticsTotals(sql, q, today))
      rows.push(await time(`console analytics totals, ${n} days (one request)`, async () => await one(async () => await analyticsTotals(sql, q))))
      if (before !== null) {
        if (JSON.stringify(await before(sql, q, today)) !== now) throw new Error(`${n} days: the answer differs from ${BEFORE}'s`)
        rows.push(await time(`  the same with ${BEFORE} (same answer)`, async () => await one(async () => await before(sql, q))))
      }
    }
    for (const on of [true, false]) {
      const times = { insert: [] as number[], update: [] as number[] }
      for (let i = 0; i <= Math.min(REPEAT, 5); i++) {
        await sql.begin(async (tx) => {
          if (!on) await tx`alter table claude_code_day_principals disable trigger claude_code_active_days_insert`
          const upsert = async (): Promise<number> => {
            const s = performance.now()
            await tx.unsafe(`
              insert into claude_code_daily (day, principal, metric, k1, k2, value, updated_at)
              select $1::date, 'u' || lpad(u::text, 5, '0'), m.metric, m.k1, m.k2, 1, now()
              from generate_series(1, $2::int) u cross join ${METRICS}
              order by 1, 2, 3, 4, 5
              on conflict (day, principal, metric, k1, k2) do update set value = claude_code_daily.value + excluded.value, updated_at = now()`, [day(today + DAY_MS), USERS])
            return performance.now() - s
          }
          const [a, b] = [await upsert(), await upsert()]
          if (i > 0) { times.insert.push(a); times.update.push(b) }
          throw ROLLBACK
        }).catch((err: unknown) => { if (err !== ROLLBACK) throw err })
      }
      for (const [k, ts] of Object.entries(times)) {
        ts.sort((a, b) => a - b)
        const row = { shape: `writer upsert, ${USERS} developers × 12 rows, ${k === 'insert' ? 'a new day (every pair new)' : 'the same rows again (updates)'}, ${on ? 'with' : 'without'} 0025's triggers`, requests: 1, kib: 0, p50: ts[Math.floor(ts.length / 2)] as number, p95: pct(ts, 0.95), max: ts.at(-1) as number }
        log(`  ${row.shape}: p50 ${row.p50.toFixed(1)} ms, max ${row.max.toFixed(1)} ms`)
        rows.push(row)
      }
    }
    if (!QUICK) rows.push(await time(`before 0024: the same totals from the raw claude_code_daily rows, ${DAYS} days`, async () => {
      const r = await sql`
        select day::text as day, count(distinct principal)::int as people,
          sum(value) filter (where metric = 'session.count')::text as sessions,
          sum(value) filter (where metric = 'lines_of_code.count' and k1 = 'added')::text as added,
          sum(value) filter (where metric = 'lines_of_code.count' and k1 = 'removed')::text as removed,
          sum(value) filter (where metric = 'commit.count')::text as commits,
          sum(value) filter (where metric = 'pull_request.count')::text as prs,
          sum(value) filter (where metric = 'code_edit_tool.decision' and k1 in ('Edit', 'MultiEdit', 'NotebookEdit', 'Write') and k2 = 'accept')::text as accepted,
          sum(value) filter (where metric = 'code_edit_tool.decision' and k1 in ('Edit', 'MultiEdit', 'NotebookEdit', 'Write') and k2 = 'reject')::text as rejected,
          sum(value) filter (where metric = 'token.usage' and k1 = 'input')::text as t_input,
          sum(value) filter (where metric = 'token.usage' and k1 = 'output')::text as t_output,
          sum(value) filter (where metric = 'token.usage' and k1 = 'cacheRead')::text as t_cache_read,
          sum(value) filter (where metric = 'token.usage' and k1 = 'cacheCreation')::text as t_cache_creation,
          (sum(value) filter (where metric = 'cost.usage') * 100)::text as cost_cents
        from claude_code_daily where day >= ${first}::date and day < ${last}::date + 1
        group by grouping sets ((day), ()) order by day nulls last`
      return { requests: 1, bytes: JSON.stringify(r).length }
    }))
    rows.push(await time('claude_code per-person table, one page of 50', async () => await one(async () => await claudeCodeUsage(sql, new URLSearchParams({ starting_at: last, limit: '50' })))))
    if (!QUICK) rows.push(await time('before: the 7-day chart from every record (7 days × all pages of 1000)', async () => {
      let requests = 0; let bytes = 0
      for (let d = 6; d >= 0; d--) {
        let page: string | null = null
        do {
          const r = await claudeCodeUsage(sql, new URLSearchParams({ starting_at: day(today - d * DAY_MS), limit: '1000', ...(page === null ? {} : { page }) }))
          if (!('json' in r)) throw new Error(r.message)
          const text = typeof r.json === 'string' ? r.json : JSON.stringify(r.json)
          const body = JSON.parse(text) as { has_more: boolean, next_page: string | null }
          requests++; bytes += text.length
          page = body.has_more ? body.next_page : null
        } while (page !== null)
      }
      return { requests, bytes }
    }))
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'console-analytics-latest.json'), JSON.stringify({ users: USERS, days: DAYS, repeat: REPEAT, rows: c?.n, cpu: cpus()[0]?.model, rows_timed: rows }, null, 2) + '\n')
    process.stdout.write(['| shape | requests | KiB | p50 ms | p95 ms | max ms |', '|---|---:|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.shape} | ${r.requests} | ${r.kib} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} |`)].join('\n') + '\n')
  } finally {
    await sql.end()
    if (server !== null) {
      await server.destroy()
    } else {
      const a = postgres(base, { max: 1, onnotice: () => {} })
      await a.unsafe('drop database if exists weir_cc_bench with (force)')
      await a.end()
    }
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
