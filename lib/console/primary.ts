/**
 * The console's own read-only queries, primary side (the `console.query` RPC, lib/console/rpc-map.ts,
 * sent by lib/console/api.ts):
 *
 *   /overview   spend today, this week and this month (the spend ledger's current buckets) with
 *               the organization caps of each period, and how many developers spent — one statement
 *   /people     the people Weir has seen, most recent first, paged (`before` = last_seen cursor),
 *               optionally filtered by email or subject (`q`, a case-insensitive substring)
 *   /audit      the admin audit trail, newest first by numeric id, paged by id (`before_id`),
 *               filtered by `actor`, `action` (exact) and `target` (substring)
 *   /upstreams  per-upstream attempt counts and latency percentiles, and `pools_report`: each
 *               configured pool's members with configured vs actual share, cooldowns, failed
 *               probes, workers keeping it out and cache-hit ratio (lib/console/stats.ts)
 *   /analytics  Claude Code activity summed per day over a range (lib/console/analytics.ts)
 *
 * All aggregation and paging happens here in SQL; pages hold at most 200 rows.
 *
 * The audit page stays bounded on a trail of any length (migration 0023):
 * - each page is one backward range scan of an index: the primary key, or (action, id) / (actor, id)
 *   when filtered, stopping after `limit + 1` rows. Its SQL holds only the filters given (no
 *   `$1 is null or …`), so the plan never depends on which parameters happen to be null.
 * - the list of distinct actions is a loose index scan of (action, id): one probe per distinct
 *   action, read fresh on every request, so it can never be stale (no cache to invalidate).
 * - a target substring cannot use an index (no trigram extension is assumed), so one request
 *   examines at most AUDIT_SEARCH_WINDOW rows (the newest below `before_id` that match the other
 *   filters). When that window ran out before the page filled and older rows exist, the reply says
 *   `more_may_match: true` with `searched_to_id`, the oldest id examined: asking again with
 *   `before_id` = that id searches the next window. `has_more` keeps its meaning: another matching
 *   row certainly exists below the page's last row.
 */
import type { AdminReply } from '../admin/call.js'
import { centsText } from '../admin/shapes.js'
import type { PoolConfig } from '../config/schema.js'
import { bucketKey, type Period } from '../metering/periods.js'
import type { Sql } from '../store/db.js'
import { analyticsTotals } from './analytics.js'
import { poolFigures, upstreamFigures } from './stats.js'

const ok = (json: unknown): AdminReply => ({ json })
const bad = (message: string): AdminReply => ({ error: 'GW_BAD_REQUEST', message })

function pageSize (q: URLSearchParams, dflt: number): number | null {
  const raw = q.get('limit')
  if (raw === null) return dflt
  const n = Number(raw)
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : null
}

/**
 * One query (always a read: lib/console/api.ts sends only GETs here). `pools` gives the pools of
 * the config now in force (they reload live), for the upstreams answer.
 */
export async function handleConsole (sql: Sql, call: { path: string, query: string }, pools: () => readonly PoolConfig[] | undefined = () => undefined): Promise<AdminReply> {
  const q = new URLSearchParams(call.query)
  switch (call.path) {
    case '/overview': return await overview(sql)
    case '/people': return await people(sql, q)
    case '/audit': return await auditTrail(sql, q)
    case '/upstreams': return ok({ ...upstreamFigures(), pools_report: poolFigures(pools()) })
    case '/analytics': return await analyticsTotals(sql, q)
    default: return { error: 'GW_NOT_FOUND', message: 'not found' }
  }
}

async function overview (sql: Sql): Promise<AdminReply> {
  const now = Date.now()
  const periods: Period[] = ['daily', 'weekly', 'monthly']
  const buckets = periods.map((p) => bucketKey(p, now))
  // One round trip: the three buckets' sums come from one index-only range scan of
  // spend_period_micro_cents (migration 0011), the caps and counts from small tables.
  const [row] = await sql<Array<{ spend: Record<string, [string, number]> | null, caps: Record<string, string | null> | null, cap_count: number, people: number }>>`
    select
      (select json_object_agg(period, json_build_array(micro::text, people)) from (
        select period, sum(micro_cents) as micro, count(*) filter (where micro_cents > 0) as people
        from spend where period in ${sql(buckets)} group by period) s) as spend,
      (select json_object_agg(period, amount::text) from (
        select distinct on (period) period, amount from spend_limits
        where scope_type = 'organization' and period in ${sql(periods)} order by period, id) c) as caps,
      (select count(*) from spend_limits)::int as cap_count,
      (select count(*) from principals)::int as people`
  const out = periods.map((period, i) => {
    const bucket = buckets[i] as string
    const [micro, people] = row?.spend?.[bucket] ?? ['0', 0]
    return { period, bucket, spend: centsText(Number(micro)), micro_cents: micro, people, organization_cap: row?.caps?.[period] ?? null }
  })
  return ok({ type: 'console_overview', currency: 'USD', periods: out, caps: row?.cap_count ?? 0, people_seen: row?.people ?? 0, refusals: upstreamFigures().refusals, refusals_since: upstreamFigures().since })
}

async function people (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const limit = pageSize(q, 50)
  if (limit === null) return bad('limit: must be an integer from 1 to 200')
  const search = q.get('q')
  const before = q.get('before')
  if (before !== null && Number.isNaN(Date.parse(before))) return bad('before: must be a timestamp from a previous page')
  const like = search === null || search === '' ? null : `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  const rows = await sql<Array<{ principal: string, email: string | null, name: string | null, groups: unknown, last_seen: Date, ls: string, first_seen: Date }>>`
    select p.principal, e.email, e.name, e.groups, p.first_seen, p.last_seen, p.last_seen::text as ls
    from principals p left join principal_emails e on e.principal = p.principal
    where (${like}::text is null or e.email ilike ${like} or p.principal ilike ${like})
      and (${before}::text is null or p.last_seen < ${before}::text::timestamptz)
    order by p.last_seen desc, p.principal limit ${limit + 1}`
  const page = rows.slice(0, limit)
  return ok({
    data: page.map((r) => ({
      user_id: r.principal, email: r.email, name: r.name,
      groups: Array.isArray(r.groups) ? r.groups.filter((g): g is string => typeof g === 'string') : [],
      first_seen_at: r.first_seen.toISOString(), last_seen_at: r.last_seen.toISOString(),
    })),
    has_more: rows.length > limit,
    next: rows.length > limit ? page.at(-1)?.ls ?? null : null,
  })
}

/** Rows one target search examines at most (see the header). */
export const AUDIT_SEARCH_WINDOW = 10_000

async function auditTrail (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const limit = pageSize(q, 50)
  if (limit === null) return bad('limit: must be an integer from 1 to 200')
  const before = q.get('before_id')
  if (before !== null && !/^\d{1,18}$/.test(before)) return bad('before_id: must be an audit event id')
  const actor = q.get('actor') || null
  const action = q.get('action') || null
  const target = q.get('target') || null
  const conds = [
    before === null ? null : sql`a.id < ${before}::bigint`,
    actor === null ? null : sql`a.actor = ${actor}`,
    action === null ? null : sql`a.action = ${action}`,
  ].filter((c) => c !== null)
  const where = conds.reduce((acc, c) => sql`${acc} and ${c}`, sql`true`)
  type Row = { id: string, at: Date, actor: string, action: string, target: string, before: unknown, after: unknown, reason: string | null }
  let rows: Row[]
  let searchedTo: string | null = null
  if (target === null) {
    rows = await sql<Row[]>`
      select a.id::text as id, a.at, a.actor, a.action, a.target, a.before, a.after, a.reason from admin_audit a
      where ${where} order by a.id desc limit ${limit + 1}`
  } else {
    const like = `%${target.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    rows = await sql<Row[]>`
      select w.id::text as id, w.at, w.actor, w.action, w.target, w.before, w.after, w.reason
      from (select a.* from admin_audit a where ${where} order by a.id desc limit ${AUDIT_SEARCH_WINDOW}) w
      where w.target ilike ${like} order by w.id desc limit ${limit + 1}`
    if (rows.length <= limit) {
      // The page did not fill: did the window end before the trail did? Two rows back means the
      // window's oldest row (the first) and at least one older row left unexamined.
      const edge = await sql<Array<{ id: string }>>`
        select a.id::text as id from admin_audit a where ${where} order by a.id desc offset ${AUDIT_SEARCH_WINDOW - 1} limit 2`
      if (edge.length === 2) searchedTo = edge[0]?.id ?? null
    }
  }
  const actions = await sql<Array<{ action: string }>>`
    with recursive x (action) as (
      (select action from admin_audit order by action limit 1)
      union all
      select (select a.action from admin_audit a where a.action > x.action order by a.action limit 1) from x where x.action is not null)
    select action from x where action is not null limit 100`
  return ok({
    data: rows.slice(0, limit).map((r) => ({ id: r.id, created_at: r.at.toISOString(), actor: r.actor, action: r.action, target_id: r.target, before: r.before ?? null, after: r.after ?? null, reason: r.reason })),
    has_more: rows.length > limit,
    ...(target === null ? {} : { more_may_match: searchedTo !== null, searched_to_id: searchedTo }),
    actions: actions.map((a) => a.action),
  })
}
