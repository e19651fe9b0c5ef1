/**
 * `GET /v1/organizations/usage_report/claude_code` in the shape of Anthropic's Claude Code
 * Analytics API, from the OTLP metrics Claude Code sent through Weir (`claude_code_daily`,
 * migration 0017, written by lib/telemetry/analytics.ts) — for fleets on any upstream.
 *
 *   starting_at  the UTC day, YYYY-MM-DD (required); one day per request, as Anthropic's
 *   limit        records per page, 1–1000 (default 20)
 *   page         the previous answer's `next_page`
 *
 * One record per developer (verified subject) with any metric that day, ordered by subject; the
 * cursor names the last subject returned and the day, and is only accepted as Weir wrote it.
 * `actor.email_address` is the developer's last-seen email (their subject when none is known);
 * `customer_type` is "api"; `is_remote` false (remote sessions do not run through Weir); `organization_id`, `terminal_type` and `subscription_type` are null
 * (Weir does not know them). `estimated_cost.amount` is in cents, as Claude Code estimated it.
 *
 * One query reads the page's developers' rows (ordered by subject, metric, k1, k2), a second their
 * emails, and the answer is written as JSON text in one pass over the rows (lib/reports/json.ts):
 * a page of 1,000 developers is 12,000 rows and 700 KB, and an object per record cost more than
 * the query. Values are added as doubles in that row order (as before). Only the documented tool
 * names and token types count (own properties of TOOLS and TOKENS, so an attribute value such as
 * "constructor" sent by a client is ignored like any other unknown one).
 */
import type { Sql } from '../store/db.js'
import type { AdminReply } from '../admin/call.js'
import { jnum, jstr } from './json.js'

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/
const TOOLS: Readonly<Record<string, string>> = { Edit: 'edit_tool', MultiEdit: 'multi_edit_tool', NotebookEdit: 'notebook_edit_tool', Write: 'write_tool' }
const TOKENS: Readonly<Record<string, string>> = { input: 'input', output: 'output', cacheRead: 'cache_read', cacheCreation: 'cache_creation' }

const bad = (message: string): AdminReply => ({ error: 'GW_BAD_REQUEST', message })

function cursor (day: string, sub: string): string {
  return `page_${Buffer.from(JSON.stringify([day, sub])).toString('base64url')}`
}

function readCursor (v: string, day: string): string | null {
  if (!/^page_[A-Za-z0-9_-]{1,2000}$/.test(v)) return null
  try {
    const x: unknown = JSON.parse(Buffer.from(v.slice(5), 'base64url').toString('utf8'))
    if (!Array.isArray(x) || x.length !== 2 || x[0] !== day || typeof x[1] !== 'string' || x[1] === '') return null
    return cursor(day, x[1]) === v ? x[1] : null
  } catch { return null }
}

/** principal, metric, k1, k2, value (decimal text). */
type Row = readonly [string, string, string, string, string]
/** The tool_actions fields, in output order. */
const TOOL_NAMES = Object.values(TOOLS)

export async function claudeCodeUsage (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  for (const k of q.keys()) if (!['starting_at', 'limit', 'page'].includes(k)) return bad(`${k}: unknown query parameter`)
  const day = q.get('starting_at')
  if (day === null || day === '') return bad('starting_at: Required')
  const m = DAY.exec(day)
  const ms = Date.parse(`${day}T00:00:00Z`)
  if (m === null || !Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== day) return bad('starting_at: must be a UTC date, YYYY-MM-DD')
  const limitText = q.get('limit')
  if (limitText !== null && (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 1000)) return bad('limit: must be an integer between 1 and 1000')
  const limit = limitText === null ? 20 : Number(limitText)
  const pageText = q.get('page')
  const after = pageText === null ? '' : readCursor(pageText, day)
  if (after === null) return bad('page: invalid page token')
  // The page's developers and one more (is there a next page?) bound one range of the primary key
  // (day, principal, metric, k1, k2), read in key order: the order the records are summed in. The
  // row comparisons keep the planner on that key (the principal index would read every day).
  const rows = await sql`
    with p as (select principal from claude_code_daily where day = ${day}::date and (day, principal) > (${day}::date, ${after})
      group by day, principal order by day, principal limit ${limit + 1})
    select c.principal, c.metric, c.k1, c.k2, c.value::text as value from claude_code_daily c
    where c.day = ${day}::date and (c.day, c.principal) > (${day}::date, ${after}) and (c.day, c.principal) <= (${day}::date, (select max(principal) from p))
    order by c.day, c.principal, c.metric, c.k1, c.k2`.values() as unknown as Row[]
  const spans: Array<[string, number, number]> = []
  for (let i = 0; i < rows.length && spans.length <= limit;) {
    const sub = (rows[i] as Row)[0]
    let j = i + 1
    while (j < rows.length && (rows[j] as Row)[0] === sub) j++
    spans.push([sub, i, j])
    i = j
  }
  const more = spans.length > limit
  const page = spans.slice(0, limit)
  const emails = new Map<string, string | null>()
  if (page.length > 0) {
    for (const e of await sql<Array<{ principal: string, email: string | null }>>`
      select principal, email from principal_emails where principal = any(${page.map((x) => x[0])}::text[])`) emails.set(e.principal, e.email)
  }
  const records = page.map(([sub, from, to]) => record(day, sub, emails.get(sub) ?? null, rows, from, to))
  const last = page[page.length - 1]?.[0] ?? ''
  return { json: `{"data":[${records.join(',')}],"has_more":${String(more)},"next_page":${more ? jstr(cursor(day, last)) : 'null'}}` }
}

/** Sums of one developer's rows `rows[from…to)`, in row order, as in the object form before. */
function record (day: string, sub: string, email: string | null, rows: readonly Row[], from: number, to: number): string {
  let sessions = 0; let added = 0; let removed = 0; let commits = 0; let prs = 0
  const tools: Record<string, [number, number]> = {}
  for (const name of TOOL_NAMES) tools[name] = [0, 0]
  const models = new Map<string, { tokens: Record<string, number>, usd: number }>()
  const model = (name: string): { tokens: Record<string, number>, usd: number } => {
    let x = models.get(name)
    if (x === undefined) { x = { tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 }, usd: 0 }; models.set(name, x) }
    return x
  }
  for (let i = from; i < to; i++) {
    const [, metric, k1, k2, value] = rows[i] as Row
    const v = Number(value)
    switch (metric) {
      case 'session.count': sessions += v; break
      case 'lines_of_code.count': if (k1 === 'added') added += v; else if (k1 === 'removed') removed += v; break
      case 'commit.count': commits += v; break
      case 'pull_request.count': prs += v; break
      case 'code_edit_tool.decision': {
        const t = Object.hasOwn(TOOLS, k1) ? tools[TOOLS[k1] as string] : undefined
        if (t !== undefined && k2 === 'accept') t[0] += v
        else if (t !== undefined && k2 === 'reject') t[1] += v
        break
      }
      case 'token.usage': if (Object.hasOwn(TOKENS, k1)) (model(k2).tokens[TOKENS[k1] as string] as number) += v; break
      case 'cost.usage': model(k2).usd += v; break
    }
  }
  const toolText = TOOL_NAMES.map((name) => `"${name}":{"accepted":${jnum((tools[name] as [number, number])[0])},"rejected":${jnum((tools[name] as [number, number])[1])}}`).join(',')
  const breakdown = [...models.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, x]) =>
    `{"model":${jstr(name)},"tokens":{"input":${jnum(x.tokens.input as number)},"output":${jnum(x.tokens.output as number)},"cache_read":${jnum(x.tokens.cache_read as number)},"cache_creation":${jnum(x.tokens.cache_creation as number)}},` +
    `"estimated_cost":{"amount":${jnum(Math.round(x.usd * 100 * 1e6) / 1e6)},"currency":"USD"}}`).join(',')
  return `{"date":"${day}T00:00:00Z","is_remote":false,"actor":{"type":"user_actor","email_address":${jstr(email ?? sub)}},"organization_id":null,"customer_type":"api","terminal_type":null,"subscription_type":null,` +
    `"core_metrics":{"num_sessions":${jnum(sessions)},"lines_of_code":{"added":${jnum(added)},"removed":${jnum(removed)}},"commits_by_claude_code":${jnum(commits)},"pull_requests_by_claude_code":${jnum(prs)}},` +
    `"tool_actions":{${toolText}},"model_breakdown":[${breakdown}]}`
}
