/**
 * `GET /v1/organizations/spend_limits/effective`: each developer's effective cap and spend so
 * far, per period — the Admin API's SpendSummary list, with the gateway's extensions (`groups`,
 * `q`, `sort=spend_desc`).
 *
 * Developers are listed from the ledger: everyone with a `spend` row (ordered by subject), or
 * with `sort=spend_desc` everyone with spend in the current bucket of the one period asked for
 * (largest first). `user_ids[]` names developers explicitly instead (in that order, no paging).
 * The opaque `page` cursor is base64url JSON of the last row (`{"p"}`, or `{"p","c","s":true}`
 * when sorted by spend); anything but a token the gateway issued for that listing is a 400. Caps resolve against each developer's last-seen groups
 * (`principal_emails`) with the same rules as enforcement (lib/spend/caps.ts).
 */
import { CapBook, type PoolRules } from '../spend/caps.js'
import { PERIODS, bucketKey, isPeriod, periodIndex, type Period } from '../metering/periods.js'
import type { Sql } from '../store/db.js'
import { centsText, scopeJson } from './shapes.js'
import type { AdminReply } from './call.js'
import { LIMIT_MESSAGE, parseLimit } from './validate.js'

export interface EffectiveDeps {
  readonly sql: Sql
  /** The primary's current cap table. */
  readonly book: () => CapBook
  readonly rules: PoolRules
}

interface Cursor { p: string, c?: string, s?: true }

/** A cursor as the gateway writes it: unpadded base64url, bounded. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,2048}$/

const token = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url')

/**
 * The cursor `text` encodes, or null. Strict: only a token this gateway could have issued for this
 * listing is accepted (re-encoding the cursor must give `text` back byte for byte), so padding,
 * the standard base64 alphabet, trailing junk, extra keys or spacing in the JSON are all refused.
 */
function readCursor (text: string, sorted: boolean): Cursor | null {
  if (!TOKEN_SHAPE.test(text)) return null
  let v: unknown
  try { v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) } catch { return null }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  const o = v as Record<string, unknown>
  if (typeof o.p !== 'string' || o.p === '') return null
  let c: Cursor
  if (sorted) {
    if (o.s !== true || typeof o.c !== 'string' || !/^(0|[1-9]\d{0,19})$/.test(o.c)) return null
    c = { p: o.p, c: o.c, s: true }
  } else c = { p: o.p }
  return token(c) === text ? c : null
}

/** `\`, `%` and `_` escaped for ILIKE. */
const likeOf = (q: string): string => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export async function effective (d: EffectiveDeps, q: URLSearchParams): Promise<AdminReply> {
  const limit = parseLimit(q, 20)
  if (limit === null) return { error: 'GW_BAD_REQUEST', message: LIMIT_MESSAGE }
  const periods: Period[] = []
  for (const p of q.getAll('period[]')) {
    if (!isPeriod(p)) return { error: 'GW_BAD_REQUEST', message: 'period[]: must be one of daily, weekly, monthly' }
    if (!periods.includes(p)) periods.push(p)
  }
  if (periods.length === 0) periods.push(...PERIODS)
  const users = q.getAll('user_ids[]')
  if (users.length > 100) return { error: 'GW_BAD_REQUEST', message: 'user_ids[]: at most 100 entries per request' }
  const text = q.get('q')
  if (text !== null && text.length > 256) return { error: 'GW_BAD_REQUEST', message: 'q: too long' }
  const sort = q.get('sort')
  if (sort !== null && sort !== 'spend_desc') return { error: 'GW_BAD_REQUEST', message: 'sort: must be spend_desc' }
  const sorted = sort === 'spend_desc'
  if (sorted && periods.length !== 1) return { error: 'GW_BAD_REQUEST', message: 'sort=spend_desc requires exactly one period[]' }
  if (users.length > 0) return { json: { data: await summaries(d, users, periods), next_page: null } }
  const page = q.get('page')
  let cur: Cursor | null = null
  if (page !== null) {
    cur = readCursor(page, sorted)
    if (cur === null) return { error: 'GW_BAD_REQUEST', message: 'page: invalid page token' }
  }
  const like = text === null ? null : likeOf(text)
  let subs: string[]
  let next: string | null = null
  if (sorted) {
    const rows = await d.sql<Array<{ principal: string, micro: string }>>`
      select s.principal, s.micro_cents::text as micro from spend s
      left join principal_emails e on e.principal = s.principal
      where s.period = ${bucketKey(periods[0] as Period, Date.now())}
        and (${cur?.c ?? null}::bigint is null or s.micro_cents < ${cur?.c ?? null}::bigint
             or (s.micro_cents = ${cur?.c ?? null}::bigint and s.principal > ${cur?.p ?? null}))
        and (${like}::text is null or s.principal ilike ${like} or e.email ilike ${like} or e.name ilike ${like})
      order by s.micro_cents desc, s.principal limit ${limit + 1}`
    subs = rows.slice(0, limit).map((r) => r.principal)
    const last = rows[limit - 1]
    if (rows.length > limit && last !== undefined) next = token({ p: last.principal, c: last.micro, s: true })
  } else {
    const rows = await d.sql<Array<{ principal: string }>>`
      select s.principal from spend s
      left join principal_emails e on e.principal = s.principal
      where (${cur?.p ?? null}::text is null or s.principal > ${cur?.p ?? null})
        and (${like}::text is null or s.principal ilike ${like} or e.email ilike ${like} or e.name ilike ${like})
      group by s.principal order by s.principal limit ${limit + 1}`
    subs = rows.slice(0, limit).map((r) => r.principal)
    const last = subs.at(-1)
    if (rows.length > limit && last !== undefined) next = token({ p: last })
  }
  return { json: { data: await summaries(d, subs, periods), next_page: next } }
}

/** One SpendSummary per (developer, period), developers in the given order. */
async function summaries (d: EffectiveDeps, subs: readonly string[], periods: readonly Period[]): Promise<unknown[]> {
  if (subs.length === 0) return []
  const now = Date.now()
  const buckets = periods.map((p) => bucketKey(p, now))
  const who = await d.sql<Array<{ principal: string, email: string | null, name: string | null, groups: unknown }>>`
    select principal, email, name, groups from principal_emails where principal = any(${[...subs]}::text[])`
  const spend = await d.sql<Array<{ principal: string, period: string, micro: string }>>`
    select principal, period, micro_cents::text as micro from spend
    where principal = any(${[...subs]}::text[]) and period = any(${buckets}::text[])`
  const book = d.book()
  const out: unknown[] = []
  for (const sub of subs) {
    const w = who.find((x) => x.principal === sub)
    const groups = Array.isArray(w?.groups) ? (w.groups as unknown[]).filter((g): g is string => typeof g === 'string') : []
    const res = book.resolve(sub, groups, d.rules)
    for (const [i, period] of periods.entries()) {
      const row = res.byPeriod[periodIndex(period)]?.row ?? null
      const micro = Number(spend.find((s) => s.principal === sub && s.period === buckets[i])?.micro ?? 0)
      out.push({
        scope: { type: 'user', user_id: sub },
        groups,
        actor: { type: 'user_actor', user_id: sub, name: w?.name ?? null, email_address: w?.email ?? null, deleted: false },
        amount: row?.amount ?? null,
        currency: 'USD',
        period,
        source: row === null ? null : scopeJson(row.scope_type, row.scope_id),
        spend_limit_id: row?.id ?? null,
        period_to_date_spend: centsText(micro),
      })
    }
  }
  return out
}
