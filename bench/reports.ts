/**
 * Report endpoints at fleet scale: `node dist/bench/reports.js [--users 5000] [--days 365]
 * [--hours 1] [--cc-days 7] [--repeat 5] [--quick]` (also `node dist/bench/run.js --only reports`).
 *
 * Generates, in a real Postgres (DATABASE_URL, or a throwaway server started here), a fleet of
 * `--users` developers in 20 IdP groups over `--days` days ending today: `--hours` active hours per
 * developer and working day in the hourly rollup the 1h/1d reports read (`usage_hours`, one row
 * per developer, model, upstream, speed and hour; models and upstreams vary by developer and
 * hour), the last day's minute rows (`usage_minutes`), and `--cc-days` days of Claude Code
 * analytics (`claude_code_daily`, about 12 metric rows per developer and day) — all with
 * `INSERT … SELECT generate_series`, never row by row. Then it times, through the real HTTP
 * endpoint of a running Weir (the real primary, one worker, an admin read key), each request an
 * operator or the console makes, following `next_page` so every page is timed on its own.
 * Each shape runs `--repeat` times after one warm-up pass; p50 and p95 are over all its page
 * requests (fetch until the whole body is read). Target: every page under 200 ms.
 * Writes bench/results/reports-latest.{json,md} and prints the Markdown.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { stringify } from 'yaml'
import { parseConfig } from '../lib/config/load.js'
import { startDevIdp } from '../lib/dev/idp.js'
import { setLogLevel } from '../lib/log.js'
import { ROOT, VERSION } from '../lib/version.js'
import { startGateway } from '../workers/primary.js'
import { handleConsole } from '../lib/console/primary.js'
import { startPostgresServer } from '../test/helpers/pg.js'
import { DEFAULT_USERS, baseConfig } from '../test/helpers/gateway.js'

const { values } = parseArgs({ options: {
  users: { type: 'string' }, days: { type: 'string' }, hours: { type: 'string' }, 'cc-days': { type: 'string' }, repeat: { type: 'string' }, audit: { type: 'string' }, quick: { type: 'boolean' },
} })
const quick = values.quick === true
const USERS = Number(values.users ?? (quick ? 500 : 5000))
const DAYS = Number(values.days ?? 365)
const HOURS = Number(values.hours ?? 1)
const CC_DAYS = Number(values['cc-days'] ?? (quick ? 2 : 7))
const REPEAT = Number(values.repeat ?? (quick ? 2 : 5))
const AUDIT = Number(values.audit ?? (quick ? 10_000 : 100_000))
const KEY = 'r'.repeat(40)
const DAY_MS = 86_400_000
setLogLevel('error')

const log = (s: string): void => { process.stderr.write(s + '\n') }
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? NaN }
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

/** The fleet, generated set-wise. Returns seconds per table. */
async function generate (sql: postgres.Sql, today: number): Promise<Record<string, number>> {
  const t: Record<string, number> = {}
  const time = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now()
    await fn()
    t[name] = (performance.now() - t0) / 1000
    log(`  ${name}: ${t[name].toFixed(1)} s`)
  }
  const first = new Date(today - (DAYS - 1) * DAY_MS).toISOString().slice(0, 10)
  const last = new Date(today).toISOString().slice(0, 10)
  await sql`set synchronous_commit = off`
  await time('principal_emails', async () => await sql`
    insert into principal_emails (principal, email, name, groups)
    select 'u' || lpad(u::text, 5, '0'), 'dev' || u || '@example.com', 'Dev ' || u,
      case when u % 4 = 0 then jsonb_build_array('team-' || (u % 20), 'team-' || ((u + 7) % 20)) else jsonb_build_array('team-' || (u % 20)) end
    from generate_series(1, ${USERS}::int) u`)
  // Costs: micro-cents per token by model (sonnet 300/1500, haiku 100/500, opus 500/2500 per MTok ×
  // 100 cents / 1e6 tokens × 1e6 micro = the rate itself), fast mode ×6 on opus.
  await time('usage_hours', async () => await sql`
    insert into usage_hours (hour, principal, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens,
      cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents,
      cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
    select x.hour, x.p, x.model, x.upstream, x.long, x.fast, x.req, x.inp, x.outp, x.cr, x.cw5, x.cw1, x.ws,
      x.inp * x.ri * x.f, x.outp * x.ro * x.f, x.cr * x.ri / 10 * x.f, x.cw5 * x.ri * 5 / 4 * x.f, x.cw1 * x.ri * 2 * x.f, x.ws * 1000000
    from (
      select d + make_interval(hours => 8 + h * 3 + (u % 3)) as hour, 'u' || lpad(u::text, 5, '0') as p,
        (array['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-6'])[1 + (u + h + doy) % 3] as model,
        (array['anthropic', 'bedrock', 'vertex'])[1 + (u / 7 + h) % 3] as upstream,
        (u + h + doy) % 23 = 0 as long, (u + h + doy) % 3 = 2 and (u + doy) % 11 = 0 as fast,
        1 + (u * 7 + h + doy) % 40 as req, 2000 + (u * 37 + h * 101 + doy * 13) % 90000 as inp, 100 + (u * 11 + h * 7 + doy) % 9000 as outp,
        (u * 53 + doy * 17) % 400000 as cr, (u * 3 + doy) % 20000 as cw5, (u + h * 5 + doy) % 4 * 1000 as cw1, (u + doy) % 9 / 8 as ws,
        (array[300, 100, 500])[1 + (u + h + doy) % 3] as ri, (array[1500, 500, 2500])[1 + (u + h + doy) % 3] as ro,
        case when (u + h + doy) % 3 = 2 and (u + doy) % 11 = 0 then 6 else 1 end as f
      from generate_series(${first}::date, ${last}::date, interval '1 day') d
        cross join lateral (select extract(doy from d)::int as doy, extract(isodow from d)::int as dow) dd
        cross join generate_series(1, ${USERS}::int) u
        cross join generate_series(0, ${HOURS - 1}::int) h
      where dd.dow < 6) x`)
  await time('usage_minutes', async () => await sql`
    insert into usage_minutes (minute, principal, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens,
      cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents,
      cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
    select hour + make_interval(mins => m * 7), principal, model, upstream, long_context, fast, 1, input_tokens / 8, output_tokens / 8, cache_read_tokens / 8,
      cache_write_5m_tokens / 8, cache_write_1h_tokens / 8, 0, input_micro_cents / 8, output_micro_cents / 8, cache_read_micro_cents / 8,
      cache_write_5m_micro_cents / 8, cache_write_1h_micro_cents / 8, 0
    from usage_hours cross join generate_series(0, 7) m where hour >= ${last}::date - 1`)
  await time('usage_org_days', async () => await sql`
    insert into usage_org_days (day, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens,
      cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents,
      cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
    select date_trunc('day', hour, 'UTC'), model, upstream, long_context, fast, sum(requests), sum(input_tokens), sum(output_tokens),
      sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(web_search_requests), sum(input_micro_cents),
      sum(output_micro_cents), sum(cache_read_micro_cents), sum(cache_write_5m_micro_cents), sum(cache_write_1h_micro_cents), sum(web_search_micro_cents)
    from usage_hours group by 1, 2, 3, 4, 5`)
  await time('usage_org_hours', async () => await sql`
    insert into usage_org_hours (hour, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
    select h.hour, h.model, h.upstream, h.long_context, h.fast, sum(h.requests), sum(h.input_tokens), sum(h.output_tokens), sum(h.cache_read_tokens), sum(h.cache_write_5m_tokens), sum(h.cache_write_1h_tokens), sum(h.web_search_requests), sum(h.input_micro_cents), sum(h.output_micro_cents), sum(h.cache_read_micro_cents), sum(h.cache_write_5m_micro_cents), sum(h.cache_write_1h_micro_cents), sum(h.web_search_micro_cents)
    from usage_hours h group by 1, 2, 3, 4, 5`)
  // The per-group day sums as the flush and the identity triggers keep them (migration 0020).
  await time('usage_group_days', async () => await sql`
    insert into usage_group_days (day, idp_group, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
    select date_trunc('day', h.hour, 'UTC'), n.name, h.model, h.upstream, h.long_context, h.fast, sum(h.requests), sum(h.input_tokens), sum(h.output_tokens), sum(h.cache_read_tokens), sum(h.cache_write_5m_tokens), sum(h.cache_write_1h_tokens), sum(h.web_search_requests), sum(h.input_micro_cents), sum(h.output_micro_cents), sum(h.cache_read_micro_cents), sum(h.cache_write_5m_micro_cents), sum(h.cache_write_1h_micro_cents), sum(h.web_search_micro_cents)
    from usage_hours h left join principal_emails e on e.principal = h.principal cross join lateral weir_usage_group_names(e.groups) as n(name)
    group by 1, 2, 3, 4, 5, 6`)
  // The console's tables: developers seen, spend buckets (the last 31 days, 53 weeks, 13 months of
  // every developer) and an admin audit trail of AUDIT rows.
  await time('principals', async () => await sql`
    insert into principals (principal, first_seen, last_seen)
    select 'u' || lpad(u::text, 5, '0'), ${first}::date + (u % 60), ${last}::date + make_interval(secs => u * 17) from generate_series(1, ${USERS}::int) u`)
  await time('spend', async () => await sql`
    insert into spend (principal, period, micro_cents, cents, updated_at)
    select 'u' || lpad(u::text, 5, '0'), b.period, (u * 7919 + b.i * 104729) % 500000000, ((u * 7919 + b.i * 104729) % 500000000) / 1e6, now()
    from generate_series(1, ${USERS}::int) u cross join (
      select i, to_char(${last}::date - i, 'YYYY-MM-DD') as period from generate_series(0, 30) i
      union all select 100 + i, to_char(${last}::date - i * 7, 'IYYY-"W"IW') from generate_series(0, 52) i
      union all select 200 + i, to_char(${last}::date - make_interval(months => i), 'YYYY-MM') from generate_series(0, 12) i) b`)
  await time('admin_audit', async () => await sql`
    insert into admin_audit (at, actor, action, target, before, after, reason)
    select now() - make_interval(secs => (${AUDIT} - i) * 300), 'admin-' || (i % 7),
      (array['spend_limits.put', 'spend_limits.delete', 'principals.sign_out', 'principals.erase', 'config.reload'])[1 + i % 5],
      'user:u' || lpad((i % ${USERS} + 1)::text, 5, '0'), jsonb_build_object('amount', i % 1000), jsonb_build_object('amount', (i + 50) % 1000), case when i % 3 = 0 then 'quarterly review' end
    from generate_series(1, ${AUDIT}::int) i`)
  await time('claude_code_daily', async () => await sql`
    insert into claude_code_daily (day, principal, metric, k1, k2, value)
    select d::date, 'u' || lpad(u::text, 5, '0'), m.metric, m.k1, m.k2, 1 + (u * 13 + m.i * 7 + extract(doy from d)::int) % 50
    from generate_series(${last}::date - ${CC_DAYS - 1}::int, ${last}::date, interval '1 day') d
      cross join generate_series(1, ${USERS}::int) u
      cross join (values (1, 'session.count', '', ''), (2, 'lines_of_code.count', 'added', ''), (3, 'lines_of_code.count', 'removed', ''),
        (4, 'commit.count', '', ''), (5, 'pull_request.count', '', ''), (6, 'code_edit_tool.decision', 'Edit', 'accept'),
        (7, 'code_edit_tool.decision', 'Edit', 'reject'), (8, 'code_edit_tool.decision', 'Write', 'accept'),
        (9, 'token.usage', 'input', 'claude-sonnet-4-5'), (10, 'token.usage', 'output', 'claude-sonnet-4-5'),
        (11, 'token.usage', 'cacheRead', 'claude-sonnet-4-5'), (12, 'cost.usage', '', 'claude-sonnet-4-5')) as m(i, metric, k1, k2)`)
  await time('analyze', async () => await sql`analyze`)
  return t
}

interface Shape { name: string, path: string, firstOnly?: boolean }

/** Every page of `path` once: ms and bytes per page. */
async function pages (url: string, path: string): Promise<Array<{ ms: number, bytes: number, results: number }>> {
  const out: Array<{ ms: number, bytes: number, results: number }> = []
  let next: string | null = null
  for (let i = 0; i < 1000; i++) {
    const u = `${url}${path}${next === null ? '' : `&page=${encodeURIComponent(next)}`}`
    const t0 = performance.now()
    const r = await fetch(u, { headers: { 'x-api-key': KEY } })
    const text = await r.text()
    const ms = performance.now() - t0
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text.slice(0, 300)}`)
    const body = JSON.parse(text) as { data: Array<{ results?: unknown[] }>, has_more: boolean, next_page: string | null }
    const results = body.data.reduce((a, b) => a + (b.results === undefined ? 1 : b.results.length), 0)
    out.push({ ms, bytes: text.length, results })
    if (!body.has_more || body.next_page === null) return out
    next = body.next_page
  }
  throw new Error(`${path}: more than 1000 pages`)
}

async function main (): Promise<void> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  const base = server?.url ?? process.env.DATABASE_URL as string
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe('drop database if exists weir_reports_bench with (force)')
  await admin.unsafe('create database weir_reports_bench')
  const u = new URL(base)
  u.pathname = '/weir_reports_bench'
  const idp = await startDevIdp({ users: DEFAULT_USERS, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const cfg = baseConfig(idp.issuer, u.toString())
  cfg.admin = { read_keys: [{ id: 'bench', key: KEY }], write_keys: [{ id: 'w', key: 'w'.repeat(40) }] }
  const gw = await startGateway(parseConfig(stringify(cfg), 'gateway.yaml', process.env), { workers: 1, drainTimeoutMs: 1000 })
  const sql = postgres(u.toString(), { max: 1, onnotice: () => {} })
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS
  log(`generating ${USERS} developers × ${DAYS} days (${HOURS} active hours per working day), ${CC_DAYS} days of Claude Code analytics`)
  const genS = await generate(sql, today)
  const [counts] = await sql`select (select count(*) from usage_hours)::int as hours, (select count(*) from usage_minutes)::int as minutes, (select count(*) from usage_org_days)::int as org,
    (select count(*) from usage_org_hours)::int as orgh, (select count(*) from usage_group_days)::int as grp, (select count(*) from spend)::int as spend,
    (select count(*) from claude_code_daily)::int as cc, pg_size_pretty(pg_database_size(current_database())) as size`
  log(`  rows: usage_hours ${counts?.hours}, usage_minutes ${counts?.minutes}, claude_code_daily ${counts?.cc}; database ${counts?.size}`)

  const M = '/v1/organizations/usage_report/messages'
  const C = '/v1/organizations/cost_report'
  const month = `starting_at=${iso(today - 30 * DAY_MS)}&ending_at=${iso(today + DAY_MS)}`
  const year = `starting_at=${iso(today - (DAYS - 1) * DAY_MS)}&ending_at=${iso(today + DAY_MS)}`
  const week = `starting_at=${iso(today - 6 * DAY_MS)}&ending_at=${iso(today + DAY_MS)}`
  const day = new Date(today).toISOString().slice(0, 10)
  const shapes: Shape[] = [
    { name: 'messages 1d × 31 days (overview chart)', path: `${M}?${month}&limit=31` },
    { name: 'messages 1d × 31 days, group_by model', path: `${M}?${month}&limit=31&group_by[]=model` },
    { name: 'cost 1d × 31 days, group_by description', path: `${C}?${month}&limit=31&group_by[]=description` },
    { name: 'messages 1d × year, group_by model', path: `${M}?${year}&limit=31&group_by[]=model` },
    { name: 'cost 1d × year', path: `${C}?${year}&limit=31` },
    { name: 'cost 1d × 31 days, group_by upstream', path: `${C}?${month}&limit=31&group_by[]=upstream` },
    { name: 'cost 1d × 31 days, group_by idp_group', path: `${C}?${month}&limit=31&group_by[]=idp_group` },
    { name: 'cost 1d × 7 days, group_by user_email (all users, 1 day a page)', path: `${C}?${week}&limit=1&group_by[]=user_email` },
    { name: 'messages 1d × 7 days, group_by account_id (all users, 1 day a page)', path: `${M}?${week}&limit=1&group_by[]=account_id` },
    { name: 'messages 1h × week, group_by model', path: `${M}?${week}&bucket_width=1h&limit=168&group_by[]=model` },
    { name: 'messages 1h × week, group_by speed', path: `${M}?${week}&bucket_width=1h&limit=168&group_by[]=speed` },
    { name: 'claude_code one day, 1000 a page (all users)', path: `/v1/organizations/usage_report/claude_code?starting_at=${day}&limit=1000` },
    { name: 'claude_code one day, first page of 20', path: `/v1/organizations/usage_report/claude_code?starting_at=${day}&limit=20`, firstOnly: true },
  ]
  const rows: Array<Record<string, unknown>> = []
  for (const s of shapes) {
    // firstOnly: just the first page (the console's first screen).
    const once = async (): Promise<Array<{ ms: number, bytes: number, results: number }>> => s.firstOnly === true ? await firstPage(gw.url, s.path) : await pages(gw.url, s.path)
    const times: number[] = []
    let n = 0; let bytes = 0; let results = 0
    try {
      await once()
      for (let i = 0; i < REPEAT; i++) {
        const ps = await once()
        n = ps.length; bytes = ps.reduce((a, p) => a + p.bytes, 0); results = ps.reduce((a, p) => a + p.results, 0)
        times.push(...ps.map((p) => p.ms))
      }
    } catch (err) {
      log(`  ${s.name}: FAILED ${(err as Error).message}`)
      rows.push({ shape: `${s.name} — failed: ${(err as Error).message.slice(0, 160)}`, pages: n, results, kib: 0, p50: NaN, p95: NaN, max: NaN, pass: false })
      continue
    }
    const row = { shape: s.name, pages: n, results, kib: Math.round(bytes / 1024), p50: pct(times, 0.5), p95: pct(times, 0.95), max: Math.max(...times), pass: pct(times, 0.95) < 200 }
    rows.push(row)
    log(`  ${s.name}: ${n} page(s), ${results} results, ${row.kib} KiB; page p50 ${row.p50.toFixed(1)} ms p95 ${row.p95.toFixed(1)} ms`)
  }
  // The console's page data (lib/console/primary.ts), timed on the primary's query path (the
  // console's HTTP side needs a browser session; it forwards each call as the admin API does).
  const people1 = await handleConsole(sql, { path: '/people', query: 'limit=50' })
  const jsonOf = (r: Awaited<ReturnType<typeof handleConsole>>): unknown => 'json' in r ? r.json : undefined
  const peopleNext = String((jsonOf(people1) as { next?: string | null } | undefined)?.next ?? '')
  const consoleShapes: Array<{ name: string, path: string, query: string }> = [
    { name: 'console overview (spend today/week/month, caps, people)', path: '/overview', query: '' },
    { name: 'console people, first page of 50', path: '/people', query: 'limit=50' },
    { name: 'console people, second page of 50', path: '/people', query: `limit=50&before=${encodeURIComponent(peopleNext)}` },
    { name: 'console people, search "dev42"', path: '/people', query: 'limit=50&q=dev42' },
    { name: `console audit (${AUDIT} rows), first page of 50`, path: '/audit', query: 'limit=50' },
    { name: 'console audit, action filter', path: '/audit', query: 'limit=50&action=principals.erase' },
    { name: 'console audit, target substring "u00042"', path: '/audit', query: 'limit=50&target=u00042' },
    { name: 'console audit, older page (before_id = half)', path: '/audit', query: `limit=50&before_id=${Math.floor(AUDIT / 2)}` },
    { name: 'console upstreams', path: '/upstreams', query: '' },
  ]
  for (const c of consoleShapes) {
    const call = { base: 'console' as const, method: 'GET', path: c.path, query: c.query, body: null, actor: 'bench', canWrite: false }
    const times: number[] = []
    let bytes = 0; let results = 0
    await handleConsole(sql, call)
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now()
      const r = await handleConsole(sql, call)
      const json = jsonOf(r)
      const text = JSON.stringify(json ?? r)
      times.push(performance.now() - t0)
      if (json === undefined) throw new Error(`${c.path}?${c.query}: ${text.slice(0, 200)}`)
      bytes = text.length
      const data = (json as { data?: unknown[] }).data
      results = Array.isArray(data) ? data.length : 1
    }
    const row = { shape: `${c.name} (primary query)`, pages: 1, results, kib: Math.round(bytes / 1024), p50: pct(times, 0.5), p95: pct(times, 0.95), max: Math.max(...times), pass: pct(times, 0.95) < 200 }
    rows.push(row)
    log(`  ${row.shape}: ${results} results; p50 ${row.p50.toFixed(1)} ms p95 ${row.p95.toFixed(1)} ms`)
  }
  const f1 = (n: unknown): string => (n as number).toFixed(1)
  const md = [
    '# Report endpoints at fleet scale (bench/reports.ts)', '',
    `${new Date().toISOString()}. ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, Weir ${VERSION}; one worker, the real primary, Postgres on the same machine.`,
    `Data: ${USERS} developers in 20 IdP groups, ${DAYS} days (${HOURS} active hours per developer and working day): usage_hours ${counts?.hours} rows, usage_org_days ${counts?.org}, usage_org_hours ${counts?.orgh}, usage_group_days ${counts?.grp}, spend ${counts?.spend}, admin_audit ${AUDIT}, usage_minutes ${counts?.minutes} (the last day), claude_code_daily ${counts?.cc} (${CC_DAYS} days); database ${counts?.size}. Generated in ${Object.values(genS).reduce((a, b) => a + b, 0).toFixed(0)} s (${Object.entries(genS).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}).`,
    `Each shape: ${REPEAT} runs after a warm-up, every page timed on its own over HTTP (until the body is read); p50/p95/max over all page requests. Target: each page under 200 ms.`, '',
    '| request | pages | results | KiB | page p50 ms | p95 ms | max ms | < 200 ms |', '|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${String(r.shape)} | ${String(r.pages)} | ${String(r.results)} | ${String(r.kib)} | ${f1(r.p50)} | ${f1(r.p95)} | ${f1(r.max)} | ${r.pass === true ? 'yes' : '**no**'} |`), '',
  ].join('\n')
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'reports-latest.md'), md)
  writeFileSync(join(dir, 'reports-latest.json'), JSON.stringify({ users: USERS, days: DAYS, hours: HOURS, ccDays: CC_DAYS, repeat: REPEAT, counts, generateS: genS, rows }, null, 2) + '\n')
  process.stdout.write(md)
  await sql.end({ timeout: 1 })
  await gw.stop()
  await admin.unsafe('drop database if exists weir_reports_bench with (force)')
  await admin.end({ timeout: 1 })
  await idp.close()
  await server?.destroy()
}

async function firstPage (url: string, path: string): Promise<Array<{ ms: number, bytes: number, results: number }>> {
  const t0 = performance.now()
  const r = await fetch(`${url}${path}`, { headers: { 'x-api-key': KEY } })
  const text = await r.text()
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`)
  return [{ ms: performance.now() - t0, bytes: text.length, results: (JSON.parse(text) as { data: unknown[] }).data.length }]
}

main().catch((err: unknown) => { process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
