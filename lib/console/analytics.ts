/**
 * `GET /console/api/analytics` (the console's `console.query` path `/analytics`, primary side):
 * Claude Code activity summed over the whole organization per UTC day, for the analytics page's
 * charts and totals — so the browser never pages through every developer's report record.
 *
 *   starting_at  the first UTC day, YYYY-MM-DD (required)
 *   ending_at    the UTC day after the last one, YYYY-MM-DD (default: tomorrow, so today counts);
 *                after starting_at, at most MAX_DAYS days on
 *
 * Answer: `data`, one entry per day of the range in order (days without activity included, all
 * zero), and `total` over the range. Each has `people` (developers with any Claude Code metric that
 * day, or that range: as many as the claude_code report has records), and the report's fields
 * summed over everyone: sessions, lines added/removed, commits, pull requests, edit-tool accept and
 * reject counts (the four tools the report lists), tokens by type, and the estimated cost in cents.
 *
 * Invariants: one statement over the organization's day sums `claude_code_org_days` (grouping
 * sets: per day and the whole range; migration 0024: kept equal to `claude_code_daily` summed over
 * developers by triggers inside every statement that changes it), the per-day counts of active
 * developers `claude_code_day_people` and the per-developer, per-year bitmaps of active days
 * `claude_code_principal_years` (migration 0025: kept by triggers on the (day, developer) pairs
 * `claude_code_day_principals`, which 0024's triggers keep equal to `claude_code_daily`'s distinct
 * pairs). The range's `people` counts the developers whose bitmap, for one of the one or two years
 * the range touches, has a bit inside it (`yearMasks`), so the cost grows with the range's days and
 * metric keys plus the number of developers — never with the active (day, developer) pairs, the raw
 * rows or a page size — and the day totals and the range total come from one snapshot; every sum
 * is read from Postgres as numeric text and sent as an exact decimal string (no float between the
 * table and the browser), so a day's figure equals the sum of the claude_code report's records for
 * that day (lib/reports/claude-code.ts counts the same metrics with the same attribute filters),
 * and `people` equals the distinct developers of `claude_code_daily` for the day or range. Read-only.
 */
import type { AdminReply } from '../admin/call.js'
import type { Sql } from '../store/db.js'

/** The longest range one request may cover, in days. */
export const MAX_DAYS = 366

const DAY_MS = 86_400_000
const DAY = /^\d{4}-\d{2}-\d{2}$/

const bad = (message: string): AdminReply => ({ error: 'GW_BAD_REQUEST', message })

/** ms of a UTC day, or null when `v` is not a real YYYY-MM-DD date. */
function dayMs (v: string): number | null {
  if (!DAY.test(v)) return null
  const ms = Date.parse(`${v}T00:00:00Z`)
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === v ? ms : null
}

const dayText = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** Postgres numeric text without trailing fractional zeros ("12.3400" → "12.34", "5.000" → "5"). */
export function decimalText (v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '0'
  const t = v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '') : v
  return t === '-0' ? '0' : t
}

/** One UTC year's days of a range, as claude_code_principal_years keeps them (migration 0025). */
export interface YearMask { year: number, mask: string }

/**
 * The days of [from, to) (UTC midnights, to > from, at most MAX_DAYS days) per year they touch, as
 * bit(366) text: character i is '1' when day i + 1 of that year is inside the range. One or two
 * years, in order.
 */
export function yearMasks (from: number, to: number): YearMask[] {
  const out: YearMask[] = []
  for (let y = new Date(from).getUTCFullYear(); Date.UTC(y, 0, 1) < to; y++) {
    const jan1 = Date.UTC(y, 0, 1)
    const lo = Math.max(0, (from - jan1) / DAY_MS)
    const hi = Math.min(366, (to - jan1) / DAY_MS, (Date.UTC(y + 1, 0, 1) - jan1) / DAY_MS)
    out.push({ year: y, mask: '0'.repeat(lo) + '1'.repeat(hi - lo) + '0'.repeat(366 - hi) })
  }
  return out
}

interface TotalsRow {
  day: string | null
  people: number
  sessions: string | null
  added: string | null
  removed: string | null
  commits: string | null
  prs: string | null
  accepted: string | null
  rejected: string | null
  t_input: string | null
  t_output: string | null
  t_cache_read: string | null
  t_cache_creation: string | null
  cost_cents: string | null
}

export interface DayTotals {
  people: number
  num_sessions: string
  lines_of_code: { added: string, removed: string }
  commits_by_claude_code: string
  pull_requests_by_claude_code: string
  tool_actions: { accepted: string, rejected: string }
  tokens: { input: string, output: string, cache_read: string, cache_creation: string }
  estimated_cost: { amount: string, currency: 'USD' }
}

function shape (r: TotalsRow | undefined): DayTotals {
  return {
    people: r?.people ?? 0,
    num_sessions: decimalText(r?.sessions),
    lines_of_code: { added: decimalText(r?.added), removed: decimalText(r?.removed) },
    commits_by_claude_code: decimalText(r?.commits),
    pull_requests_by_claude_code: decimalText(r?.prs),
    tool_actions: { accepted: decimalText(r?.accepted), rejected: decimalText(r?.rejected) },
    tokens: { input: decimalText(r?.t_input), output: decimalText(r?.t_output), cache_read: decimalText(r?.t_cache_read), cache_creation: decimalText(r?.t_cache_creation) },
    estimated_cost: { amount: decimalText(r?.cost_cents), currency: 'USD' },
  }
}

export async function analyticsTotals (sql: Sql, q: URLSearchParams, now = Date.now()): Promise<AdminReply> {
  for (const k of q.keys()) if (k !== 'starting_at' && k !== 'ending_at') return bad(`${k}: unknown query parameter`)
  for (const k of ['starting_at', 'ending_at']) if (q.getAll(k).length > 1) return bad(`${k}: given more than once`)
  const startText = q.get('starting_at')
  if (startText === null || startText === '') return bad('starting_at: Required')
  const from = dayMs(startText)
  if (from === null) return bad('starting_at: must be a UTC date, YYYY-MM-DD')
  const endText = q.get('ending_at')
  const to = endText === null ? Math.floor(now / DAY_MS) * DAY_MS + DAY_MS : dayMs(endText)
  if (to === null) return bad('ending_at: must be a UTC date, YYYY-MM-DD (the day after the last one counted)')
  if (to <= from) return bad('ending_at: must be after starting_at')
  if ((to - from) / DAY_MS > MAX_DAYS) return bad(`ending_at: at most ${MAX_DAYS} days after starting_at`)
  const [a, b] = [dayText(from), dayText(to)]
  const masks = yearMasks(from, to)
  const first = masks[0] as YearMask
  const second = masks[1] ?? first
  const rows = await sql<TotalsRow[]>`
    with s as (
      select day::text as day,
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
      from claude_code_org_days
      where day >= ${a}::date and day < ${b}::date
      group by grouping sets ((day), ())),
    p as (
      select day::text as day, people::int as people from claude_code_day_people
      where day >= ${a}::date and day < ${b}::date
      union all
      select null, count(distinct principal)::int from claude_code_principal_years
      where (year = ${first.year} and days & ${first.mask}::bit(366) <> 0::bit(366))
        or (year = ${second.year} and days & ${second.mask}::bit(366) <> 0::bit(366)))
    select coalesce(s.day, p.day) as day, coalesce(p.people, 0) as people, s.sessions, s.added, s.removed, s.commits, s.prs,
      s.accepted, s.rejected, s.t_input, s.t_output, s.t_cache_read, s.t_cache_creation, s.cost_cents
    from s full join p on coalesce(s.day, '') = coalesce(p.day, '')`
  const byDay = new Map<string, TotalsRow>()
  let total: TotalsRow | undefined
  for (const r of rows) {
    if (r.day === null) total = r
    else byDay.set(r.day, r)
  }
  const data: Array<{ date: string } & DayTotals> = []
  for (let d = from; d < to; d += DAY_MS) {
    const day = dayText(d)
    data.push({ date: `${day}T00:00:00Z`, ...shape(byDay.get(day)) })
  }
  return { json: { type: 'claude_code_daily_totals', starting_at: a, ending_at: b, data, total: shape(total) } }
}
