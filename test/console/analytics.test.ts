/**
 * The console's Claude Code totals (`/console/api/analytics`, lib/console/analytics.ts) against
 * real Postgres: on generated `claude_code_daily` rows (developers missing on some days, metrics
 * and attributes the report ignores mixed in), every day's totals equal the sum of that day's
 * claude_code report records, fetched page by page through the report's own code, exactly
 * (counts as integers, cost to the report's precision); the range total equals the days' sums and
 * counts each developer once; range edges (first day in, `ending_at` out, empty days as zeros,
 * the default end, the longest range); bad parameters; and over HTTP, an administrator and a
 * read-only administrator get it through the console session while a developer and a request
 * without a session are refused.
 */
import t from 'tap'
import postgres from 'postgres'
import { analyticsTotals, decimalText, MAX_DAYS } from '../../lib/console/analytics.js'
import { claudeCodeUsage } from '../../lib/reports/claude-code.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'
import { req } from '../helpers/http.js'
import { ADMIN, consoleApi, consoleGateway, consoleSignIn, DEV, READER } from './helpers.js'

type J = any // eslint-disable-line @typescript-eslint/no-explicit-any

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07', '2026-03-08']
const EMPTY_DAY = '2026-03-05'
const USERS = 37

/** A small deterministic generator (mulberry32), so a failure reproduces. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Rows of one developer's day: [metric, k1, k2, value]. */
function dayRows (r: () => number): Array<[string, string, string, string]> {
  const n = (max: number): string => String(Math.floor(r() * max))
  const out: Array<[string, string, string, string]> = [
    ['session.count', '', '', n(6)],
    ['lines_of_code.count', 'added', '', n(5000)],
    ['lines_of_code.count', 'removed', '', n(2000)],
    ['commit.count', '', '', n(9)],
    ['pull_request.count', '', '', n(3)],
    ['code_edit_tool.decision', 'Edit', 'accept', n(80)],
    ['code_edit_tool.decision', 'Edit', 'reject', n(10)],
    ['code_edit_tool.decision', 'MultiEdit', 'accept', n(20)],
    ['code_edit_tool.decision', 'Write', 'reject', n(5)],
    ['code_edit_tool.decision', 'NotebookEdit', 'accept', n(4)],
    // Not among the report's four tools, nor its two decisions: counted nowhere.
    ['code_edit_tool.decision', 'Bash', 'accept', n(50)],
    ['code_edit_tool.decision', 'Edit', 'maybe', n(50)],
    ['token.usage', 'input', 'claude-sonnet-4-5', n(900_000)],
    ['token.usage', 'output', 'claude-sonnet-4-5', n(200_000)],
    ['token.usage', 'cacheRead', 'claude-sonnet-4-5', n(3_000_000)],
    ['token.usage', 'cacheCreation', 'claude-haiku-4-5', n(50_000)],
    ['token.usage', 'reasoning', 'claude-haiku-4-5', n(50_000)],
    // USD as Claude Code reports it, to the millionth of a dollar.
    ['cost.usage', '', 'claude-sonnet-4-5', (Math.floor(r() * 40_000_000) / 1e6).toFixed(6)],
    ['cost.usage', '', 'claude-haiku-4-5', (Math.floor(r() * 900_000) / 1e6).toFixed(6)],
    ['api.request.count', '', 'claude-haiku-4-5', n(100)],
  ]
  // Not every developer reports every metric every day.
  return out.filter(() => r() > 0.15)
}

async function generate (sql: Sql): Promise<Set<string>> {
  const r = rng(17)
  const rows: Array<Record<string, string>> = []
  const active = new Set<string>()
  for (const day of DAYS) {
    if (day === EMPTY_DAY) continue
    for (let u = 1; u <= USERS; u++) {
      if (r() < 0.2) continue // away that day
      const principal = `u${String(u).padStart(3, '0')}`
      const mine = dayRows(r)
      if (mine.length === 0) continue
      if (day >= '2026-03-02' && day < '2026-03-08') active.add(principal)
      for (const [metric, k1, k2, value] of mine) rows.push({ day, principal, metric, k1, k2, value })
    }
  }
  for (let i = 0; i < rows.length; i += 2000) await sql`insert into claude_code_daily ${sql(rows.slice(i, i + 2000), 'day', 'principal', 'metric', 'k1', 'k2', 'value')}`
  await sql`insert into principal_emails (principal, email, groups) values ('u001', 'one@example.com', '[]'::jsonb)`
  return active
}

/** A decimal string as an integer count of 10^-scale units, exactly. */
function units (v: string, scale: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(v)
  if (m === null) throw new Error(`not a decimal: ${v}`)
  const frac = (m[3] ?? '').padEnd(scale, '0')
  if (frac.length > scale && /[^0]/.test(frac.slice(scale))) throw new Error(`${v} has more than ${scale} decimals`)
  const n = BigInt(`${m[2] as string}${frac.slice(0, scale)}`)
  return m[1] === '-' ? -n : n
}

interface Sums { people: bigint, sessions: bigint, added: bigint, removed: bigint, commits: bigint, prs: bigint, accepted: bigint, rejected: bigint, input: bigint, output: bigint, cacheRead: bigint, cacheCreation: bigint, costE4: bigint }
const zero = (): Sums => ({ people: 0n, sessions: 0n, added: 0n, removed: 0n, commits: 0n, prs: 0n, accepted: 0n, rejected: 0n, input: 0n, output: 0n, cacheRead: 0n, cacheCreation: 0n, costE4: 0n })
const big = (x: unknown): bigint => BigInt(x as number)

/** Sum one day's claude_code report, every page of `limit` records, as the report serves them. */
async function reportSums (sql: Sql, day: string, limit: number): Promise<{ sums: Sums, pages: number }> {
  const s = zero()
  let page: string | null = null
  let pages = 0
  do {
    const q = new URLSearchParams({ starting_at: day, limit: String(limit), ...(page === null ? {} : { page }) })
    const r = await claudeCodeUsage(sql, q)
    if (!('json' in r)) throw new Error(`report refused: ${r.message}`)
    // The report answers with its JSON text (lib/reports/json.ts), read back here as a client would.
    const body = (typeof r.json === 'string' ? JSON.parse(r.json) : r.json) as J
    pages++
    for (const rec of body.data as J[]) {
      const c = rec.core_metrics
      s.people += 1n
      s.sessions += big(c.num_sessions); s.added += big(c.lines_of_code.added); s.removed += big(c.lines_of_code.removed)
      s.commits += big(c.commits_by_claude_code); s.prs += big(c.pull_requests_by_claude_code)
      for (const tool of Object.values(rec.tool_actions) as J[]) { s.accepted += big(tool.accepted); s.rejected += big(tool.rejected) }
      for (const m of rec.model_breakdown as J[]) {
        s.input += big(m.tokens.input); s.output += big(m.tokens.output); s.cacheRead += big(m.tokens.cache_read); s.cacheCreation += big(m.tokens.cache_creation)
        // The report's amount: cents rounded to the millionth; these USD values have at most
        // six decimals, so the cents have at most four.
        s.costE4 += BigInt(Math.round(m.estimated_cost.amount * 1e4))
      }
    }
    page = body.has_more === true ? body.next_page : null
  } while (page !== null)
  return { sums: s, pages }
}

function totalsSums (d: J): Sums {
  return {
    people: BigInt(d.people), sessions: units(d.num_sessions, 0), added: units(d.lines_of_code.added, 0), removed: units(d.lines_of_code.removed, 0),
    commits: units(d.commits_by_claude_code, 0), prs: units(d.pull_requests_by_claude_code, 0),
    accepted: units(d.tool_actions.accepted, 0), rejected: units(d.tool_actions.rejected, 0),
    input: units(d.tokens.input, 0), output: units(d.tokens.output, 0), cacheRead: units(d.tokens.cache_read, 0), cacheCreation: units(d.tokens.cache_creation, 0),
    costE4: units(d.estimated_cost.amount, 4),
  }
}

const add = (a: Sums, b: Sums): Sums => Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof Sums] + b[k as keyof Sums]])) as unknown as Sums
const show = (s: Sums): Record<string, string> => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, String(v)]))

async function totals (sql: Sql, query: string, now?: number): Promise<J> {
  const r = await analyticsTotals(sql, new URLSearchParams(query), now)
  if (!('json' in r)) throw new Error(`refused: ${r.message}`)
  return r.json
}

t.test('decimal text: exact, without trailing zeros', async (t) => {
  t.same(['12.3400', '5.000', '0.0', '1200', '-0.00', null, '0.000100'].map(decimalText), ['12.34', '5', '0', '1200', '0', '0', '0.0001'])
})

t.test('totals per day equal the sum of the claude_code report, on generated data', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const active = await generate(sql)
  const all = await totals(sql, `starting_at=${DAYS[0] as string}&ending_at=2026-03-09`)
  t.equal(all.type, 'claude_code_daily_totals')
  t.same([all.starting_at, all.ending_at], ['2026-03-01', '2026-03-09'])
  t.same(all.data.map((d: J) => d.date), DAYS.map((d) => `${d}T00:00:00Z`), 'one entry per day of the range, in order')
  let sum = zero()
  for (const d of all.data as J[]) {
    const day = (d.date as string).slice(0, 10)
    const rep = await reportSums(sql, day, 7)
    t.same(show(totalsSums(d)), show(rep.sums), `${day}: every total equals the report's records summed (${rep.pages} pages of 7)`)
    if (day !== EMPTY_DAY) t.ok(rep.pages > 1 && Number(d.people) > 20, `${day}: a real day (${String(d.people)} people)`)
    t.match(d.estimated_cost, { amount: /^\d+(\.\d{1,4})?$/, currency: 'USD' }, 'cost in cents as an exact decimal string')
    for (const v of [d.num_sessions, d.lines_of_code.added, d.tokens.cache_read]) t.type(v, 'string')
    sum = add(sum, totalsSums(d))
  }
  const empty = all.data.find((d: J) => d.date.startsWith(EMPTY_DAY))
  t.same(show(totalsSums(empty)), show(zero()), 'a day without activity is all zeros')
  const tot = totalsSums(all.total)
  t.same(show({ ...tot, people: 0n }), show({ ...sum, people: 0n }), 'the range total is the days summed')
  const distinct = (await sql`select count(distinct principal)::int as n from claude_code_daily`)[0]?.n as number
  t.equal(all.total.people, distinct, 'the range counts each developer once')
  t.ok(distinct < Number(sum.people), 'and not once per day')

  const mid = await totals(sql, 'starting_at=2026-03-02&ending_at=2026-03-08')
  t.same(mid.data.map((d: J) => d.date.slice(0, 10)), DAYS.slice(1, 7), 'starting_at is the first day counted, ending_at the first left out')
  let midSum = zero()
  for (const d of all.data.slice(1, 7) as J[]) midSum = add(midSum, totalsSums(d))
  t.same(show({ ...totalsSums(mid.total), people: 0n }), show({ ...midSum, people: 0n }), 'the edge days\' rows are not in the total')
  t.equal(mid.total.people, active.size, 'people over the range: those active inside it')

  const one = await totals(sql, 'starting_at=2026-03-08&ending_at=2026-03-09')
  t.same(one.data.map((d: J) => d.date), ['2026-03-08T00:00:00Z'])
  t.same(show(totalsSums(one.total)), show(totalsSums(one.data[0])), 'a one-day range: the total is that day')

  const dflt = await totals(sql, 'starting_at=2026-03-07', Date.parse('2026-03-08T23:59:59.999Z'))
  t.same([dflt.ending_at, dflt.data.length], ['2026-03-09', 2], 'without ending_at: through today (UTC)')
  t.same(show(totalsSums(dflt.data[1])), show(totalsSums(all.data[7])))

  const long = await totals(sql, `starting_at=2025-03-08&ending_at=2026-03-09`)
  t.equal(long.data.length, MAX_DAYS, `the longest range, ${MAX_DAYS} days`)
  t.same(show(totalsSums(long.total)), show(tot))

  for (const [q, message] of [
    ['', 'starting_at: Required'],
    ['starting_at=2026-02-30', 'starting_at: must be a UTC date, YYYY-MM-DD'],
    ['starting_at=2026-03-01T00:00:00Z', 'starting_at: must be a UTC date, YYYY-MM-DD'],
    ['starting_at=2026-03-01&ending_at=03/09/2026', 'ending_at: must be a UTC date, YYYY-MM-DD (the day after the last one counted)'],
    ['starting_at=2026-03-01&ending_at=2026-03-01', 'ending_at: must be after starting_at'],
    ['starting_at=2026-03-02&ending_at=2026-03-01', 'ending_at: must be after starting_at'],
    ['starting_at=2025-03-07&ending_at=2026-03-09', `ending_at: at most ${MAX_DAYS} days after starting_at`],
    ['starting_at=2026-03-01&starting_at=2026-03-02', 'starting_at: given more than once'],
    ['starting_at=2026-03-01&limit=1000', 'limit: unknown query parameter'],
  ] as const) {
    const r = await analyticsTotals(sql, new URLSearchParams(q))
    t.same(r, { error: 'GW_BAD_REQUEST', message }, q === '' ? '(no parameters)' : q)
  }
})

t.test('over HTTP: administrators through the console session; a developer and no session refused', async (t) => {
  const { url, idp, dbUrl } = await consoleGateway(t)
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  const today = new Date().toISOString().slice(0, 10)
  await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value) values
    (${today}::date, 'u-a', 'lines_of_code.count', 'added', '', 120), (${today}::date, 'u-b', 'lines_of_code.count', 'added', '', 3),
    (${today}::date, 'u-a', 'cost.usage', '', 'claude-sonnet-4-5', 0.123456), (${today}::date, 'u-b', 'cost.usage', '', 'claude-sonnet-4-5', 2)`
  const path = `/analytics?starting_at=${today}`
  for (const who of [ADMIN, READER]) {
    const s = await consoleSignIn(url, idp, who.email)
    const r = await consoleApi(url, s, 'GET', path)
    t.equal(r.status, 200, `${who.email}: ${r.text.slice(0, 200)}`)
    t.equal(r.headers['cache-control'], 'no-store')
    const body = r.json()
    t.same(body.data.map((d: J) => d.date), [`${today}T00:00:00Z`])
    t.match(body.total, { people: 2, lines_of_code: { added: '123', removed: '0' }, estimated_cost: { amount: '212.3456', currency: 'USD' } }, `${who.email} reads the totals`)
    t.equal((await consoleApi(url, s, 'GET', '/analytics?starting_at=nope')).json().error.message, 'starting_at: must be a UTC date, YYYY-MM-DD', 'bad input: a clear 400')
  }
  const dev = await consoleSignIn(url, idp, DEV.email)
  t.equal(dev.callback.status, 403, 'a developer gets no console session')
  t.equal((await consoleApi(url, dev, 'GET', path)).status, 401, 'and no totals')
  const anon = await req(`${url}/console/api${path}`)
  t.equal(anon.status, 401, 'no session: refused')
  t.notMatch(anon.text, /212/)
})
