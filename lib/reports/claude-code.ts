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
 */
import type { Sql } from '../store/db.js'
import type { AdminReply } from '../admin/call.js'

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

interface Row { principal: string, email: string | null, metric: string, k1: string, k2: string, value: string }

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
  const subs = await sql<Array<{ principal: string }>>`
    select distinct principal from claude_code_daily where day = ${day}::date and principal > ${after}
    order by principal limit ${limit + 1}`
  const page = subs.slice(0, limit).map((s) => s.principal)
  const rows = page.length === 0 ? [] : await sql<Row[]>`
    select c.principal, e.email, c.metric, c.k1, c.k2, c.value::text as value from claude_code_daily c
    left join principal_emails e on e.principal = c.principal
    where c.day = ${day}::date and c.principal = any(${page}::text[])
    order by c.principal, c.metric, c.k1, c.k2`
  const bySub = new Map<string, Row[]>()
  for (const r of rows) {
    const list = bySub.get(r.principal)
    if (list === undefined) bySub.set(r.principal, [r])
    else list.push(r)
  }
  const data = page.map((sub) => record(day, sub, bySub.get(sub) ?? []))
  const more = subs.length > limit
  return { json: { data, has_more: more, next_page: more ? cursor(day, page[page.length - 1] as string) : null } }
}

function record (day: string, sub: string, rows: readonly Row[]): Record<string, unknown> {
  const num = (v: string): number => Number(v)
  const sum = (metric: string, k1?: string): number => rows.filter((r) => r.metric === metric && (k1 === undefined || r.k1 === k1)).reduce((a, r) => a + num(r.value), 0)
  const tools: Record<string, { accepted: number, rejected: number }> = {}
  for (const name of Object.values(TOOLS)) tools[name] = { accepted: 0, rejected: 0 }
  for (const r of rows) {
    if (r.metric !== 'code_edit_tool.decision') continue
    const t = tools[TOOLS[r.k1] ?? '']
    if (t === undefined) continue
    if (r.k2 === 'accept') t.accepted += num(r.value)
    else if (r.k2 === 'reject') t.rejected += num(r.value)
  }
  const models = new Map<string, { tokens: Record<string, number>, usd: number }>()
  const model = (name: string): { tokens: Record<string, number>, usd: number } => {
    let x = models.get(name)
    if (x === undefined) { x = { tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 }, usd: 0 }; models.set(name, x) }
    return x
  }
  for (const r of rows) {
    if (r.metric === 'token.usage' && TOKENS[r.k1] !== undefined) (model(r.k2).tokens[TOKENS[r.k1] as string] as number) += num(r.value)
    else if (r.metric === 'cost.usage') model(r.k2).usd += num(r.value)
  }
  return {
    date: `${day}T00:00:00Z`,
    is_remote: false,
    actor: { type: 'user_actor', email_address: rows[0]?.email ?? sub },
    organization_id: null,
    customer_type: 'api',
    terminal_type: null,
    subscription_type: null,
    core_metrics: {
      num_sessions: sum('session.count'),
      lines_of_code: { added: sum('lines_of_code.count', 'added'), removed: sum('lines_of_code.count', 'removed') },
      commits_by_claude_code: sum('commit.count'),
      pull_requests_by_claude_code: sum('pull_request.count'),
    },
    tool_actions: tools,
    model_breakdown: [...models.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, x]) => ({
      model: name,
      tokens: x.tokens,
      estimated_cost: { amount: Math.round(x.usd * 100 * 1e6) / 1e6, currency: 'USD' },
    })),
  }
}
