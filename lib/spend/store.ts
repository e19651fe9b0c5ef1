/**
 * Spend control's SQL, run by the primary only (it owns the one Postgres pool): leases, caps, spend
 * read back, and the shapes of a ledger write's totals and of a principal's last-seen identity.
 * The ledger itself is written by metering (lib/metering/ledger.ts), which draws the leases down
 * through `drawDown` here; this file imports nothing from metering, so money flows one way.
 */
import type { CapRow } from './caps.js'
import type { LeaseReply } from './budget.js'
import type { Sql } from '../store/db.js'

/** Longest the admission path waits for the database (the reference's pre-check timeout). */
export const PRECHECK_DEADLINE_MS = 2500

/** Reject with code ETIMEDOUT when `p` takes longer than `ms`. */
export async function withDeadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer from Postgres in ${ms} ms`), { code: 'ETIMEDOUT' })), ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
    p.catch(() => undefined)
  }
}

export interface LeaseArgs {
  kind: 'u' | 'g'
  subject: string
  bucket: string
  holder: string
  epoch: string
  limitId: string
  amount: string
  want: number
  need: number
  partialOk: boolean
  ttlMs: number
}

export const int = (n: number): string => String(Math.max(0, Math.ceil(n)))

/** Run the atomic lease statement (migration 0012). */
export async function leaseBudget (sql: Sql, a: LeaseArgs): Promise<LeaseReply> {
  const rows = await sql<Array<{ granted: string, spent: string, others: string, held: string, free_after: string, fresh: boolean }>>`
    select * from weir_spend_lease(${a.kind}, ${a.subject}, ${a.bucket}, ${a.holder}, ${a.epoch},
      ${a.limitId}, ${a.amount}::bigint, ${int(a.want)}::bigint, ${int(a.need)}::bigint, ${a.partialOk}, ${Math.round(a.ttlMs)}::int)`
  const r = rows[0]
  if (r === undefined) throw new Error('weir_spend_lease returned no row')
  return { granted: Number(r.granted), spent: Number(r.spent), others: Number(r.others), held: Number(r.held), freeAfter: Number(r.free_after), fresh: r.fresh }
}

/** Lease returns and charges: kind, subject, bucket, holder, epoch, micro-cents. */
export type LeaseDelta = [kind: 'u' | 'g', subject: string, bucket: string, holder: string, epoch: string, micro: number]

function columns (list: readonly LeaseDelta[]): [string[], string[], string[], string[], string[], string[]] {
  const c: [string[], string[], string[], string[], string[], string[]] = [[], [], [], [], [], []]
  for (const d of list) { c[0].push(d[0]); c[1].push(d[1]); c[2].push(d[2]); c[3].push(d[3]); c[4].push(d[4]); c[5].push(int(d[5])) }
  return c
}

/** Draw leases down (returns of unused budget, or charges of settled requests). Never below zero. */
export async function drawDown (sql: Sql, list: readonly LeaseDelta[]): Promise<void> {
  if (list.length === 0) return
  const [k, s, b, h, e, m] = columns(list)
  await sql`
    update spend_leases x set micro_cents = greatest(0, x.micro_cents - t.m)
    from unnest(${k}::text[], ${s}::text[], ${b}::text[], ${h}::text[], ${e}::text[], ${m}::int8[]) as t(k, s, b, h, e, m)
    where x.kind = t.k and x.subject = t.s and x.period = t.b and x.holder = t.h and x.epoch = t.e`
}

/** Return unused lease budget to the pool. */
export async function releaseLeases (sql: Sql, list: readonly LeaseDelta[]): Promise<void> {
  await drawDown(sql, list)
}

/** A bucket's total after a ledger write: principal or group, bucket key, micro-cents as text. */
export interface LedgerTotal { subject: string, period: string, micro: string }

/** What one ledger write changed: principal buckets (`spend`) and pooled group buckets. */
export interface LedgerTotals { spend: LedgerTotal[], pooled: LedgerTotal[] }

/** Every cap row. */
export async function loadCaps (sql: Sql): Promise<CapRow[]> {
  const rows = await sql<Array<{ id: string, scope_type: CapRow['scope_type'], scope_id: string, amount: string | null, period: CapRow['period'], pooled_limit_enabled: boolean, pooled_monthly_credit_limit: string | null }>>`
    select id, scope_type, scope_id, amount::text as amount, period, pooled_limit_enabled,
           pooled_monthly_credit_limit::text as pooled_monthly_credit_limit
    from spend_limits order by id`
  return rows.map((r) => ({ ...r }))
}

/** Exact spend (micro-cents) of `sub` in each of `buckets`. */
export async function spentIn (sql: Sql, sub: string, buckets: readonly string[]): Promise<number[]> {
  const rows = await sql<Array<{ period: string, micro: string }>>`
    select period, micro_cents::text as micro from spend where principal = ${sub} and period = any(${[...buckets]}::text[])`
  return buckets.map((b) => Number(rows.find((r) => r.period === b)?.micro ?? 0))
}

/** Last-seen identity of principals, for `/effective` (and the subject in `principals`, migration 0014). */
export interface Seen { sub: string, email: string | null, name: string | null, groups: string[] }

/** Delete lease rows that expired a while ago (they count for nothing already). */
export async function pruneLeases (sql: Sql): Promise<number> {
  const r = await sql`delete from spend_leases where expires_at < now() - interval '1 minute'`
  return r.count
}
