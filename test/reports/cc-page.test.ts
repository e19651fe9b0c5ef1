/**
 * The Claude Code usage report, now one query and JSON text per page (lib/reports/claude-code.ts),
 * against an independent computation: the day's raw `claude_code_daily` rows read back, summed
 * per developer here in the report's row order (subject, metric, k1, k2), shaped as the Claude
 * Code Analytics API documents a record and passed through JSON.stringify. Every page — 1,000 and
 * 7 records a page, followed by `next_page` — must equal that text byte for byte, and the pages
 * together hold every developer with a row that day exactly once. The data: 2,300 developers,
 * unknown tools, decisions and token types (ignored), several models, fractional costs, emails that
 * need escaping, developers with no known email (their subject is shown), and another day's rows.
 */
import t from 'tap'
import { claudeCodeUsage } from '../../lib/reports/claude-code.js'
import { freshDatabase } from '../helpers/pg.js'
import { prng } from '../helpers/prng.js'

const DAY = '2026-03-10'
const N = 2300
const TOOLS: Record<string, string> = { Edit: 'edit_tool', MultiEdit: 'multi_edit_tool', NotebookEdit: 'notebook_edit_tool', Write: 'write_tool' }
const TOKENS: Record<string, string> = { input: 'input', output: 'output', cacheRead: 'cache_read', cacheCreation: 'cache_creation' }

type Raw = [string, string, string, string, string]

/** The documented record of one developer from their rows, summed in the order given. */
function record (sub: string, email: string | null, rows: readonly Raw[]): object {
  const c = { sessions: 0, added: 0, removed: 0, commits: 0, prs: 0 }
  const tools = Object.fromEntries(Object.values(TOOLS).map((n) => [n, { accepted: 0, rejected: 0 }]))
  const models: Record<string, { input: number, output: number, cache_read: number, cache_creation: number, usd: number }> = {}
  const m = (name: string): { input: number, output: number, cache_read: number, cache_creation: number, usd: number } => (models[name] ??= { input: 0, output: 0, cache_read: 0, cache_creation: 0, usd: 0 })
  for (const [, metric, k1, k2, value] of rows) {
    const v = Number(value)
    if (metric === 'session.count') c.sessions += v
    if (metric === 'lines_of_code.count' && k1 === 'added') c.added += v
    if (metric === 'lines_of_code.count' && k1 === 'removed') c.removed += v
    if (metric === 'commit.count') c.commits += v
    if (metric === 'pull_request.count') c.prs += v
    const tool = TOOLS[k1]
    if (metric === 'code_edit_tool.decision' && tool !== undefined && k2 === 'accept') (tools[tool] as { accepted: number }).accepted += v
    if (metric === 'code_edit_tool.decision' && tool !== undefined && k2 === 'reject') (tools[tool] as { rejected: number }).rejected += v
    const kind = TOKENS[k1] as 'input' | undefined
    if (metric === 'token.usage' && kind !== undefined) m(k2)[kind] += v
    if (metric === 'cost.usage') m(k2).usd += v
  }
  return {
    date: `${DAY}T00:00:00Z`,
    is_remote: false,
    actor: { type: 'user_actor', email_address: email ?? sub },
    organization_id: null,
    customer_type: 'api',
    terminal_type: null,
    subscription_type: null,
    core_metrics: { num_sessions: c.sessions, lines_of_code: { added: c.added, removed: c.removed }, commits_by_claude_code: c.commits, pull_requests_by_claude_code: c.prs },
    tool_actions: tools,
    model_breakdown: Object.keys(models).sort().map((name) => {
      const x = models[name] as { input: number, output: number, cache_read: number, cache_creation: number, usd: number }
      return { model: name, tokens: { input: x.input, output: x.output, cache_read: x.cache_read, cache_creation: x.cache_creation }, estimated_cost: { amount: Math.round(x.usd * 100 * 1e6) / 1e6, currency: 'USD' } }
    }),
  }
}

t.test('Claude Code pages equal, byte for byte, the documented records summed from the raw rows', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const rand = prng(17_0024)
  const int = (n: number): number => Math.floor(rand() * n)
  const rows: Array<[string, string, string, string, string, string]> = []
  const subs = Array.from({ length: N }, (_x, i) => `sub-${String(i).padStart(5, '0')}${i % 97 === 0 ? '-ü' : ''}`)
  for (const sub of subs) {
    for (const day of [DAY, '2026-03-09']) {
      if (day !== DAY && rand() < 0.5) continue
      const add = (metric: string, k1: string, k2: string, value: string): void => { if (rand() < 0.85) rows.push([day, sub, metric, k1, k2, value]) }
      add('session.count', '', '', String(1 + int(5)))
      add('session.count', 'stray', '', String(int(3)))
      add('lines_of_code.count', 'added', '', String(int(900)))
      add('lines_of_code.count', 'removed', '', String(int(400)))
      add('lines_of_code.count', 'moved', '', String(int(40)))
      add('commit.count', '', '', String(int(6)))
      add('pull_request.count', '', '', String(int(3)))
      for (const tool of ['Edit', 'Write', 'NotebookEdit', 'MultiEdit', 'Bash']) for (const d of ['accept', 'reject', 'maybe']) if (rand() < 0.4) add('code_edit_tool.decision', tool, d, String(int(30)))
      for (const model of ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-6']) {
        if (rand() < 0.5) continue
        for (const type of ['input', 'output', 'cacheRead', 'cacheCreation', 'mystery']) add('token.usage', type, model, String(int(2e6)))
        add('cost.usage', '', model, (rand() * 40).toFixed(int(10)))
      }
    }
  }
  await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value)
    select * from unnest(${rows.map((r) => r[0])}::date[], ${rows.map((r) => r[1])}::text[], ${rows.map((r) => r[2])}::text[], ${rows.map((r) => r[3])}::text[], ${rows.map((r) => r[4])}::text[], ${rows.map((r) => r[5])}::numeric[])`
  const emails = new Map<string, string>()
  for (const [i, sub] of subs.entries()) {
    if (i % 5 === 0) continue
    emails.set(sub, i === 1 ? 'quote"and\\back@example.com' : i === 2 ? 'ünï\tcode@example.com' : `dev${i}@example.com`)
  }
  await sql`insert into principal_emails (principal, email, groups) select * from unnest(${[...emails.keys()]}::text[], ${[...emails.values()]}::text[], ${[...emails.keys()].map(() => '[]')}::jsonb[])`

  // The independent side: the day's rows as stored (numeric text), in subject, metric, k1, k2 byte order.
  const stored = await sql<Array<{ principal: string, metric: string, k1: string, k2: string, value: string }>>`
    select principal, metric, k1, k2, value::text as value from claude_code_daily where day = ${DAY}::date`
  const key = (r: { principal: string, metric: string, k1: string, k2: string }): Buffer[] => [r.principal, r.metric, r.k1, r.k2].map((x) => Buffer.from(x))
  stored.sort((a, b) => { const x = key(a); const y = key(b); for (let i = 0; i < 4; i++) { const c = Buffer.compare(x[i] as Buffer, y[i] as Buffer); if (c !== 0) return c } return 0 })
  const bySub = new Map<string, Raw[]>()
  for (const r of stored) {
    const list = bySub.get(r.principal) ?? []
    bySub.set(r.principal, list)
    list.push([r.principal, r.metric, r.k1, r.k2, r.value])
  }
  const want = [...bySub.entries()].map(([sub, rs]) => record(sub, emails.get(sub) ?? null, rs))
  t.ok(want.length > 2000, `${want.length} developers with rows that day`)
  t.ok(stored.some((r) => r.metric === 'cost.usage' && r.value.includes('.')), 'fractional costs')

  for (const limit of [1000, 7]) {
    let page: string | null = null
    let at = 0
    let pages = 0
    for (;;) {
      const r = await claudeCodeUsage(sql, new URLSearchParams(`starting_at=${DAY}&limit=${limit}${page === null ? '' : `&page=${page}`}`))
      if (!('json' in r) || typeof r.json !== 'string') { t.fail(JSON.stringify(r)); return }
      const got = JSON.parse(r.json) as { has_more: boolean, next_page: string | null }
      const slice = want.slice(at, at + limit)
      at += slice.length
      const more = at < want.length
      const expect = JSON.stringify({ data: slice, has_more: more, next_page: more ? got.next_page : null })
      pages++
      if (r.json !== expect) t.same(JSON.parse(r.json), JSON.parse(expect), `limit ${limit} page ${pages}`)
      if (limit === 1000 || pages % 50 === 1 || !more) t.equal(r.json, expect, `limit ${limit}, page ${pages}: byte for byte`)
      else if (r.json !== expect) t.fail(`limit ${limit}, page ${pages} differs`)
      t.equal(typeof got.next_page === 'string', more, 'a next page exactly when developers remain')
      if (!more) break
      page = got.next_page
    }
    t.equal(at, want.length, `limit ${limit}: every developer once over ${pages} pages`)
  }
  const empty = await claudeCodeUsage(sql, new URLSearchParams('starting_at=2026-03-11&limit=1000'))
  t.same(empty, { json: '{"data":[],"has_more":false,"next_page":null}' }, 'a day without rows')
})
