/**
 * The admin API's primary-side half: every `/v1/organizations/spend_limits` operation against
 * Postgres. HTTP workers authenticate the caller and forward the request here over IPC
 * (lib/admin/routes.ts); the answer comes back as a JSON value or a registry error code (lib/errors.ts) with a message.
 *
 * Mutations run in one transaction with their `admin_audit` row: an upsert takes a
 * transaction-scoped advisory lock on its (scope, period) — the same key the reference uses, so
 * the two never race on one database — keeps the id and created_at of an existing row and bumps
 * updated_at; a delete records the row it removed. The spend_limits trigger (migration 0013) then
 * notifies every replica, which push the new caps to their workers.
 *
 * A user scope is resolved before anything is written (lib/admin/principals.ts): `scope.user_id`
 * must name a subject Weir has seen unless the body says `"force": true`, and the Weir extension
 * `scope.email` stands for the one subject last seen with that email — so a cap can never key on a
 * string that matches nobody by accident.
 */
import { randomUUID } from 'node:crypto'
import { audit } from '../log.js'
import { bucketKey } from '../metering/periods.js'
import type { Sql } from '../store/db.js'
import { effective, type EffectiveDeps } from './effective.js'
import { LIMIT_COLUMNS, limitJson, newLimitId, snapshot, type LimitRow } from './shapes.js'
import { LIMIT_MESSAGE, parseLimit, parseUpsert } from './validate.js'
import { handlePrincipals, resolveUser } from './principals.js'
import { spendReport } from './report.js'
import { handleReport } from '../reports/service.js'
import type { AdminCall, AdminErrorCode, AdminReply } from './call.js'

export type { AdminCall, AdminReply } from './call.js'

const err = (error: AdminErrorCode, message: string): AdminReply => ({ error, message })
const ok = (json: unknown): AdminReply => ({ json })
const NOT_FOUND = 'spend limit not found'

export async function handleAdmin (d: EffectiveDeps, call: AdminCall): Promise<AdminReply> {
  const { method, path } = call
  if (call.base === 'principals') return await handlePrincipals(d.sql, call)
  if (call.base === 'usage_report' || call.base === 'cost_report') return await handleReport(d.sql, call)
  if (call.base === 'spend_report') return method === 'GET' && path === '' ? await spendReport(d.sql, new URLSearchParams(call.query)) : err('GW_NOT_FOUND', 'not found')
  const q = new URLSearchParams(call.query)
  if (path === '/effective' && method === 'GET') return await effective(d, q)
  if (path === '/audit' && method === 'GET') return await auditList(d.sql, q)
  if (path === '' && method === 'GET') return await list(d.sql, q)
  if (path === '' && method === 'POST') return call.canWrite ? await upsert(d.sql, call) : err('GW_FORBIDDEN', 'requires write:spend_limits')
  if (path.startsWith('/')) {
    let id: string
    try { id = decodeURIComponent(path.slice(1)) } catch { return err('GW_BAD_REQUEST', 'malformed spend limit id') }
    if (method === 'GET') return await getOne(d.sql, id)
    if (method === 'DELETE') return call.canWrite ? await remove(d.sql, call.actor, id) : err('GW_FORBIDDEN', 'requires write:spend_limits')
  }
  return err('GW_NOT_FOUND', 'not found')
}

/** Add each pooled group's spend this month to its `spend_limit` objects. */
async function decorate (sql: Sql, rows: readonly LimitRow[]): Promise<unknown[]> {
  const groups = rows.filter((r) => r.pooled_monthly_credit_limit !== null).map((r) => r.scope_id)
  const spent = new Map<string, number>()
  if (groups.length > 0) {
    const got = await sql<Array<{ g: string, m: string }>>`
      select rbac_group_id as g, micro_cents::text as m from pooled_spend
      where period = ${bucketKey('monthly', Date.now())} and rbac_group_id = any(${groups}::text[])`
    for (const r of got) spent.set(r.g, Number(r.m))
  }
  return rows.map((r) => limitJson(r, spent.get(r.scope_id) ?? 0))
}

async function list (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const limit = parseLimit(q, 20)
  if (limit === null) return err('GW_BAD_REQUEST', LIMIT_MESSAGE)
  const scope = q.get('scope_type')
  if (scope !== null && scope !== 'organization' && scope !== 'rbac_group' && scope !== 'user') return err('GW_BAD_REQUEST', 'scope_type: must be one of organization, rbac_group, user')
  const after = q.get('after_id')
  const before = q.get('before_id')
  if (after !== null && before !== null) return err('GW_BAD_REQUEST', 'after_id and before_id are mutually exclusive')
  const cursorId = after ?? before
  // The cursor's created_at travels as text, cast in SQL: a timestamp parameter would be
  // serialised through a JS Date by the driver, losing the microseconds the ordering needs.
  let cursor: { created_at: string, id: string } | undefined
  if (cursorId !== null) {
    cursor = (await sql<Array<{ created_at: string, id: string }>>`select created_at::text as created_at, id from spend_limits where id = ${cursorId}`)[0]
    if (cursor === undefined) return err('GW_BAD_REQUEST', `${after !== null ? 'after_id' : 'before_id'}: no spend limit with this id`)
  }
  let page: LimitRow[]
  let more: boolean
  if (before !== null && cursor !== undefined) {
    const rows = await sql.unsafe<LimitRow[]>(`select ${LIMIT_COLUMNS} from spend_limits
      where (created_at, id) < ($1::text::timestamptz, $2::text) and ($3::text is null or scope_type = $3)
      order by created_at desc, id desc limit $4`, [cursor.created_at, cursor.id, scope, limit + 1])
    more = rows.length > limit
    page = rows.slice(0, limit).reverse()
  } else {
    const rows = await sql.unsafe<LimitRow[]>(`select ${LIMIT_COLUMNS} from spend_limits
      where ($1::text is null or (created_at, id) > ($1::text::timestamptz, $2::text)) and ($3::text is null or scope_type = $3)
      order by created_at, id limit $4`, [cursor?.created_at ?? null, cursor?.id ?? null, scope, limit + 1])
    more = rows.length > limit
    page = rows.slice(0, limit)
  }
  return ok({ data: await decorate(sql, page), has_more: more, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null })
}

async function getOne (sql: Sql, id: string): Promise<AdminReply> {
  const rows = await sql.unsafe<LimitRow[]>(`select ${LIMIT_COLUMNS} from spend_limits where id = $1`, [id])
  const r = rows[0]
  return r === undefined ? err('GW_NOT_FOUND', NOT_FOUND) : ok((await decorate(sql, [r]))[0])
}

async function remove (sql: Sql, actor: string, id: string): Promise<AdminReply> {
  const gone = await sql.begin(async (tx) => {
    const rows = await tx.unsafe<LimitRow[]>(`delete from spend_limits where id = $1 returning ${LIMIT_COLUMNS}`, [id])
    const r = rows[0]
    if (r === undefined) return null
    await tx`insert into admin_audit (actor, action, target, before, after) values (${actor}, 'spend_limit.delete', ${id}, ${tx.json(snapshot(r) as never)}, null)`
    return r
  })
  if (gone === null) return err('GW_NOT_FOUND', NOT_FOUND)
  audit('admin.limit.delete', { actor, target: id, scope_type: gone.scope_type, scope_id: gone.scope_id, period: gone.period })
  return ok({ type: 'spend_limit_deleted', id })
}

async function upsert (sql: Sql, call: AdminCall): Promise<AdminReply> {
  const body = parseUpsert(call.body ?? '')
  if (typeof body === 'string') return err('GW_BAD_REQUEST', body)
  const { period } = body
  let scope = body.scope
  if (body.amount === undefined && (body.pooled === undefined || body.pooled === null)) return err('GW_BAD_REQUEST', 'amount: Required')
  const pb = body.pooled ?? { amount: undefined, paused: undefined }
  if (pb.paused === false || (pb.amount ?? null) !== null) {
    if (scope.type !== 'rbac_group') return err('GW_BAD_REQUEST', 'pooled_budget: only a group (rbac_group) limit can carry a pooled budget')
    if (period !== 'monthly') return err('GW_BAD_REQUEST', "pooled_budget: pooled budgets are monthly; set it on the group's monthly limit")
  }
  if (scope.type === 'user') {
    const sub = await resolveUser(sql, scope, body.force)
    if (typeof sub !== 'string') return err('GW_BAD_REQUEST', sub.message)
    scope = { ...scope, id: sub }
  }
  const result = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${`spend_limits:${scope.type}:${scope.id}:${period}`}))`
    const found = await tx.unsafe<LimitRow[]>(`select ${LIMIT_COLUMNS} from spend_limits
      where scope_type = $1 and scope_id = $2 and period = $3 for update`, [scope.type, scope.id, period])
    const prev = found[0]
    const amount = body.amount === undefined ? prev?.amount : body.amount
    if (amount === undefined) return "amount: required to create a spend limit (each member's own cap; it may equal pooled_budget.amount)"
    const prevPool = prev?.pooled_monthly_credit_limit ?? null
    const poolAmount = pb.amount === undefined ? prevPool : pb.amount
    const paused = pb.paused ?? (prev !== undefined && prevPool !== null ? !prev.pooled_limit_enabled : poolAmount === null)
    if (!paused) {
      if (poolAmount === null) return 'pooled_budget.amount: required unless pooled_budget.paused is true'
      if (amount === null) return 'amount: a pooled budget that is not paused needs a per-member amount on the same limit (it may equal pooled_budget.amount)'
    }
    const rows = await tx.unsafe<LimitRow[]>(`insert into spend_limits (id, scope_type, scope_id, amount, period, created_by, pooled_limit_enabled, pooled_monthly_credit_limit)
      values ($1, $2, $3, $4::bigint, $5, $6, $7, $8::bigint)
      on conflict (scope_type, scope_id, period) do update set amount = excluded.amount,
        pooled_limit_enabled = excluded.pooled_limit_enabled,
        pooled_monthly_credit_limit = excluded.pooled_monthly_credit_limit, updated_at = now()
      returning ${LIMIT_COLUMNS}`, [newLimitId(randomUUID()), scope.type, scope.id, amount, period, call.actor, !paused, poolAmount])
    const after = rows[0] as LimitRow
    await tx`insert into admin_audit (actor, action, target, before, after)
      values (${call.actor}, 'spend_limit.upsert', ${after.id}, ${prev === undefined ? null : tx.json(snapshot(prev) as never)}, ${tx.json(snapshot(after) as never)})`
    return { prev, after }
  })
  if (typeof result === 'string') return err('GW_BAD_REQUEST', result)
  const { prev, after } = result
  audit('admin.limit.upsert', {
    actor: call.actor, target: after.id, scope_type: scope.type, scope_id: scope.id, period,
    ...(scope.email !== undefined ? { resolved_from_email: scope.email } : {}),
    ...(body.force && scope.type === 'user' ? { forced: true } : {}),
    before_amount: prev === undefined ? undefined : prev.amount, amount: after.amount,
    pooled_budget: after.pooled_monthly_credit_limit === null ? undefined : { amount: after.pooled_monthly_credit_limit, paused: !after.pooled_limit_enabled },
  })
  return ok((await decorate(sql, [after]))[0])
}

async function auditList (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const limit = parseLimit(q, 100)
  if (limit === null) return err('GW_BAD_REQUEST', LIMIT_MESSAGE)
  const after = q.get('after_id')
  if (after !== null && !/^\d{1,18}$/.test(after)) return err('GW_BAD_REQUEST', 'after_id: must be an audit event id')
  const rows = await sql<Array<{ id: string, at: Date, actor: string, action: string, target: string, before: unknown, after: unknown, reason: string | null }>>`
    select id::text as id, at, actor, action, target, before, after, reason from admin_audit
    where (${after}::bigint is null or id < ${after}::bigint) order by id desc limit ${limit + 1}`
  return ok({
    data: rows.slice(0, limit).map((r) => ({
      type: 'audit_event', id: r.id, created_at: r.at.toISOString(), actor: r.actor, action: r.action, target_id: r.target, before: r.before ?? null, after: r.after ?? null, reason: r.reason ?? null,
    })),
    has_more: rows.length > limit,
  })
}
