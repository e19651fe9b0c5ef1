/**
 * `weir admin usage | cost | claude-code`: the report endpoints (lib/reports/, docs/reports.md)
 * read from a running gateway and printed as a table, or as the API's own JSON with `--json`.
 *
 *   --from, --to   a UTC day (2026-03-01) or an RFC 3339 timestamp; --to is exclusive and
 *                  defaults to now (claude-code: the day after --from)
 *   --bucket       1d | 1h | 1m (usage and cost; default 1d)
 *   --group-by     comma-separated group_by values; `user` and `group` stand for user_email and
 *                  idp_group
 *   --model, --email, --group, --upstream, --speed   filters (comma-separated for several)
 *
 * Invariants: every page is followed (`next_page` until `has_more` is false), so a table or a
 * `--json` document covers the whole range asked for; `--json` prints the pages joined in the API's
 * shape; cost amounts stay exact decimal strings (summed as integer micro-cents, never floats).
 * Parameter problems the gateway finds come back as its 400 message (exit 1).
 */
import { UsageError } from './args.js'
import { call, table, type AdminTarget } from './admin-client.js'

type Values = Record<string, string | boolean | undefined>
type Out = (s: string) => void

const str = (v: string | boolean | undefined): string | undefined => typeof v === 'string' ? v : undefined
const list = (v: string | boolean | undefined): string[] => (str(v) ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')
const DAY = /^\d{4}-\d{2}-\d{2}$/
const WIDTH_MS: Record<string, number> = { '1d': 86_400_000, '1h': 3_600_000, '1m': 60_000 }
const MAX_LIMIT: Record<string, string> = { '1d': '31', '1h': '168', '1m': '1440' }
const ALIASES: Record<string, string> = { user: 'user_email', email: 'user_email', group: 'idp_group', account: 'account_id' }
/** Pages followed at most (a year of day buckets is 12; this only guards against a loop). */
const MAX_PAGES = 10_000

/** `--from`/`--to` as RFC 3339: a bare day is its UTC midnight; anything else is passed as given. */
function when (flag: string, v: string): string {
  if (DAY.test(v)) return `${v}T00:00:00Z`
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v)) throw new UsageError(`--${flag} must be a day (2026-03-01) or an RFC 3339 timestamp (2026-03-01T09:00:00Z), not '${v}'`)
  return v
}

/** Exact cents (decimal text, up to 6 decimals) as integer micro-cents. */
function micro (cents: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(cents)
  if (m === null) throw new Error(`not an amount of cents: '${cents}'`)
  const v = BigInt(m[2] as string) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0') || '0')
  return m[1] === '-' ? -v : v
}

/** Micro-cents as exact cents and exact dollars: 2177000 → ['2.177', '$0.02177']. */
function money (m: bigint): [string, string] {
  const neg = m < 0n ? '-' : ''
  const a = m < 0n ? -m : m
  const frac = (n: bigint, digits: number): string => n.toString().padStart(digits, '0').replace(/0+$/, '')
  const c = frac(a % 1_000_000n, 6)
  const d = (a % 100_000_000n).toString().padStart(8, '0').replace(/0+$/, '').padEnd(2, '0')
  return [`${neg}${a / 1_000_000n}${c === '' ? '' : `.${c}`}`, `${neg}$${a / 100_000_000n}.${d}`]
}

interface Bucket { starting_at: string, ending_at: string, results: Array<Record<string, unknown>> }

/** The query of a bucketed report, from the flags. */
function bucketQuery (v: Values, now: number): { q: URLSearchParams, groups: string[], width: string } {
  const width = str(v.bucket) ?? '1d'
  const ms = WIDTH_MS[width]
  if (ms === undefined) throw new UsageError(`--bucket must be 1d, 1h or 1m, not '${width}'`)
  const from = str(v.from) ?? new Date(Math.floor(now / ms) * ms - (width === '1d' ? 6 : width === '1h' ? 23 : 59) * ms).toISOString()
  const q = new URLSearchParams({ starting_at: when('from', from), bucket_width: width, limit: MAX_LIMIT[width] as string })
  const to = str(v.to)
  if (to !== undefined) q.set('ending_at', when('to', to))
  const groups = list(v['group-by']).map((g) => ALIASES[g] ?? g)
  for (const g of groups) q.append('group_by[]', g)
  const filters: Array<[string, string]> = [['model', 'models[]'], ['email', 'user_emails[]'], ['group', 'idp_groups[]'], ['upstream', 'upstreams[]'], ['speed', 'speeds[]']]
  for (const [flag, param] of filters) for (const x of list(v[flag])) q.append(param, x)
  return { q, groups, width }
}

/** Every bucket of the range, following next_page. */
async function allBuckets (t: AdminTarget, path: string, q: URLSearchParams): Promise<Bucket[]> {
  const out: Bucket[] = []
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await call(t, 'GET', `${path}?${q.toString()}`) as { data: Bucket[], has_more: boolean, next_page: string | null }
    out.push(...r.data)
    if (!r.has_more || r.next_page === null) return out
    q.set('page', r.next_page)
  }
  throw new Error(`${path}: more than ${MAX_PAGES} pages`)
}

const label = (b: Bucket, width: string): string => width === '1d' ? b.starting_at.slice(0, 10) : b.starting_at.replace('T', ' ').replace(/:00Z$/, 'Z')
const cell = (x: unknown): string => x === null || x === undefined ? '-' : String(x)
const head = (groups: readonly string[]): string[] => groups.map((g) => g.toUpperCase())

export async function usageReport (t: AdminTarget, v: Values, out: Out, now = Date.now()): Promise<void> {
  const { q, groups, width } = bucketQuery(v, now)
  const data = await allBuckets(t, '/v1/organizations/usage_report/messages', q)
  if (v.json === true) { out(JSON.stringify({ data, has_more: false, next_page: null }, null, 2) + '\n'); return }
  const cols = ['uncached_input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation', 'web_search']
  const total = cols.map(() => 0)
  const rows: string[][] = []
  for (const b of data) {
    for (const r of b.results) {
      const cc = r.cache_creation as { ephemeral_1h_input_tokens: number, ephemeral_5m_input_tokens: number }
      const vals = [r.uncached_input_tokens as number, r.output_tokens as number, r.cache_read_input_tokens as number,
        cc.ephemeral_5m_input_tokens + cc.ephemeral_1h_input_tokens, (r.server_tool_use as { web_search_requests: number }).web_search_requests]
      vals.forEach((x, i) => { total[i] = (total[i] as number) + x })
      rows.push([label(b, width), ...groups.map((g) => cell(r[g])), ...vals.map(String)])
    }
  }
  rows.push(['total', ...groups.map(() => ''), ...total.map(String)])
  out(table(['BUCKET', ...head(groups), 'INPUT', 'OUTPUT', 'CACHE_READ', 'CACHE_WRITE', 'WEB_SEARCHES'], rows))
}

export async function costReport (t: AdminTarget, v: Values, out: Out, now = Date.now()): Promise<void> {
  const { q, groups, width } = bucketQuery(v, now)
  const data = await allBuckets(t, '/v1/organizations/cost_report', q)
  if (v.json === true) { out(JSON.stringify({ data, has_more: false, next_page: null }, null, 2) + '\n'); return }
  const described = groups.includes('description')
  const shown = groups.filter((g) => g !== 'description' && g !== 'workspace_id')
  let total = 0n
  const rows: string[][] = []
  for (const b of data) {
    for (const r of b.results) {
      const m = micro(r.amount as string)
      total += m
      rows.push([label(b, width), ...(described ? [cell(r.description)] : []), ...shown.map((g) => cell(r[g])), ...money(m)])
    }
  }
  rows.push(['total', ...(described ? [''] : []), ...shown.map(() => ''), ...money(total)])
  out(table(['BUCKET', ...(described ? ['DESCRIPTION'] : []), ...head(shown), 'CENTS', 'USD'], rows))
}

interface CcRecord {
  date: string
  actor: { email_address?: string, api_key_name?: string }
  core_metrics: { num_sessions: number, lines_of_code: { added: number, removed: number }, commits_by_claude_code: number, pull_requests_by_claude_code: number }
  tool_actions: Record<string, { accepted: number, rejected: number }>
  model_breakdown: Array<{ model: string, tokens: Record<string, number>, estimated_cost: { amount: number } }>
}

/** Claude Code analytics, one request series per UTC day from --from up to --to (31 days at most). */
export async function claudeCodeReport (t: AdminTarget, v: Values, out: Out, now = Date.now()): Promise<void> {
  const fromText = str(v.from) ?? new Date(now).toISOString().slice(0, 10)
  if (!DAY.test(fromText)) throw new UsageError(`--from must be a UTC day such as 2026-03-01 (the Claude Code report is daily), not '${fromText}'`)
  const from = Date.parse(`${fromText}T00:00:00Z`)
  const toText = str(v.to)
  if (toText !== undefined && !DAY.test(toText)) throw new UsageError(`--to must be a UTC day such as 2026-03-08 (exclusive), not '${toText}'`)
  const to = toText === undefined ? from + 86_400_000 : Date.parse(`${toText}T00:00:00Z`)
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new UsageError('--from/--to: not a calendar day')
  if (to <= from) throw new UsageError('--to must be after --from')
  if ((to - from) / 86_400_000 > 31) throw new UsageError('at most 31 days per command (one request series per day)')
  const data: CcRecord[] = []
  for (let d = from; d < to; d += 86_400_000) {
    const q = new URLSearchParams({ starting_at: new Date(d).toISOString().slice(0, 10), limit: '1000' })
    for (let i = 0; i < MAX_PAGES; i++) {
      const r = await call(t, 'GET', `/v1/organizations/usage_report/claude_code?${q.toString()}`) as { data: CcRecord[], has_more: boolean, next_page: string | null }
      data.push(...r.data)
      if (!r.has_more || r.next_page === null) break
      q.set('page', r.next_page)
    }
  }
  if (v.json === true) { out(JSON.stringify({ data, has_more: false, next_page: null }, null, 2) + '\n'); return }
  const rows = data.map((r) => {
    const tools = Object.values(r.tool_actions)
    const tokens = r.model_breakdown.reduce((a, m) => a + Object.values(m.tokens).reduce((x, y) => x + y, 0), 0)
    const cents = r.model_breakdown.reduce((a, m) => a + m.estimated_cost.amount, 0)
    const c = r.core_metrics
    return [r.date.slice(0, 10), r.actor.email_address ?? r.actor.api_key_name ?? '-', String(c.num_sessions), String(c.lines_of_code.added), String(c.lines_of_code.removed),
      String(c.commits_by_claude_code), String(c.pull_requests_by_claude_code), String(tools.reduce((a, x) => a + x.accepted, 0)),
      String(tools.reduce((a, x) => a + x.rejected, 0)), String(tokens), `$${(cents / 100).toFixed(2)}`]
  })
  out(table(['DAY', 'USER', 'SESSIONS', 'ADDED', 'REMOVED', 'COMMITS', 'PRS', 'EDITS_OK', 'EDITS_REJECTED', 'TOKENS', 'EST_COST'], rows))
}
