/**
 * The console's own read-only queries, primary side (the `console.query` RPC, lib/console/rpc-map.ts,
 * sent by lib/console/api.ts):
 *
 *   /overview   spend today, this week and this month (the spend ledger's current buckets) with
 *               the organization caps of each period, and how many developers spent
 *   /people     the people Weir has seen, most recent first, paged (`before` = last_seen cursor),
 *               optionally filtered by email or subject (`q`, a case-insensitive substring)
 *   /audit      the admin audit trail, newest first, paged by id (`before_id`), filtered by
 *               `actor`, `action` (exact) and `target` (substring)
 *   /upstreams  per-upstream attempt counts and latency percentiles (lib/console/stats.ts)
 *   /analytics  Claude Code activity summed per day over a range (lib/console/analytics.ts)
 *
 * All aggregation and paging happens here in SQL; pages hold at most 200 rows.
 */
import type { AdminReply } from '../admin/call.js'
import { centsText } from '../admin/shapes.js'
import { bucketKey, type Period } from '../spend/periods.js'
import type { Sql } from '../store/db.js'
import { analyticsTotals } from './analytics.js'
import { upstreamFigures } from './stats.js'

const ok = (json: unknown): AdminReply => ({ json })
const bad = (message: string): AdminReply => ({ error: 'GW_BAD_REQUEST', message })

function pageSize (q: URLSearchParams, dflt: number): number | null {
  const raw = q.get('limit')
  if (raw === null) return dflt
  const n = Number(raw)
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : null
}

/** One query (always a read: lib/console/api.ts sends only GETs here). */
export async function handleConsole (sql: Sql, call: { path: string, query: string }): Promise<AdminReply> {
  const q = new URLSearchParams(call.query)
  switch (call.path) {
    case '/overview': return await overview(sql)
    case '/people': return await people(sql, q)
    case '/audit': return await auditTrail(sql, q)
    case '/upstreams': return ok(upstreamFigures())
    case '/analytics': return await analyticsTotals(sql, q)
    default: return { error: 'GW_NOT_FOUND', message: 'not found' }
  }
}

async function overview (sql: Sql): Promise<AdminReply> {
  const now = Date.now()
  const periods: Period[] = ['daily', 'weekly', 'monthly']
  const out = []
  for (const period of periods) {
    const bucket = bucketKey(period, now)
    const [t] = await sql<Array<{ micro: string, people: string }>>`
      select coalesce(sum(micro_cents), 0)::text as micro, count(*) filter (where micro_cents > 0)::text as people from spend where period = ${bucket}`
    const [cap] = await sql<Array<{ amount: string | null }>>`
      select amount::text as amount from spend_limits where scope_type = 'organization' and period = ${period}`
    const micro = Number(t?.micro ?? 0)
    out.push({
      period,
      bucket,
      spend: centsText(micro),
      micro_cents: t?.micro ?? '0',
      people: Number(t?.people ?? 0),
      organization_cap: cap?.amount ?? null,
    })
  }
  const [counts] = await sql<Array<{ caps: string, people: string }>>`
    select (select count(*) from spend_limits)::text as caps, (select count(*) from principals)::text as people`
  return ok({ type: 'console_overview', currency: 'USD', periods: out, caps: Number(counts?.caps ?? 0), people_seen: Number(counts?.people ?? 0), refusals: upstreamFigures().refusals, refusals_since: upstreamFigures().since })
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

async function auditTrail (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const limit = pageSize(q, 50)
  if (limit === null) return bad('limit: must be an integer from 1 to 200')
  const before = q.get('before_id')
  if (before !== null && !/^\d{1,18}$/.test(before)) return bad('before_id: must be an audit event id')
  const actor = q.get('actor') || null
  const action = q.get('action') || null
  const target = q.get('target') || null
  const like = target === null ? null : `%${target.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  const rows = await sql<Array<{ id: string, at: Date, actor: string, action: string, target: string, before: unknown, after: unknown, reason: string | null }>>`
    select id::text as id, at, actor, action, target, before, after, reason from admin_audit
    where (${before}::bigint is null or id < ${before}::bigint)
      and (${actor}::text is null or actor = ${actor}) and (${action}::text is null or action = ${action})
      and (${like}::text is null or target ilike ${like})
    order by id desc limit ${limit + 1}`
  const actions = await sql<Array<{ action: string }>>`select distinct action from admin_audit order by action limit 100`
  return ok({
    data: rows.slice(0, limit).map((r) => ({ id: r.id, created_at: r.at.toISOString(), actor: r.actor, action: r.action, target_id: r.target, before: r.before ?? null, after: r.after ?? null, reason: r.reason })),
    has_more: rows.length > limit,
    actions: actions.map((a) => a.action),
  })
}
