/**
 * Spend control's SQL, run by the primary only (it owns the one Postgres pool): leases, caps, spend
 * read back, and the shapes of a ledger write's totals and of a principal's last-seen identity.
 * The ledger itself is written by metering (lib/metering/ledger.ts), which draws the leases down
 * with `drawDown` (lib/metering/charges.ts). Spend control sits above metering: it imports
 * metering's pricing, periods and charges, and nothing under lib/metering/ imports lib/spend/.
 */
import type { CapRow } from './caps.js'
import type { LeaseReply } from './budget.js'
import type { Sql } from '../store/db.js'
import { drawDown, int, type LeaseDelta } from '../metering/charges.js'

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

/** Run the atomic lease statement (migration 0012). */
export async function leaseBudget (sql: Sql, a: LeaseArgs): Promise<LeaseReply> {
  const rows = await sql<Array<{ granted: string, spent: string, others: string, held: string, free_after: string, fresh: boolean }>>`
    select * from weir_spend_lease(${a.kind}, ${a.subject}, ${a.bucket}, ${a.holder}, ${a.epoch},
      ${a.limitId}, ${a.amount}::bigint, ${int(a.want)}::bigint, ${int(a.need)}::bigint, ${a.partialOk}, ${Math.round(a.ttlMs)}::int)`
  const r = rows[0]
  if (r === undefined) throw new Error('weir_spend_lease returned no row')
  return { granted: Number(r.granted), spent: Number(r.spent), others: Number(r.others), held: Number(r.held), freeAfter: Number(r.free_after), fresh: r.fresh }
}

/** Return unused lease budget to the pool. */
export async function releaseLeases (sql: Sql, list: readonly LeaseDelta[]): Promise<void> {
  await drawDown(sql, list)
}

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

/** Delete lease rows that expired a while ago (they count for nothing already). */
export async function pruneLeases (sql: Sql): Promise<number> {
  const r = await sql`delete from spend_leases where expires_at < now() - interval '1 minute'`
  return r.count
}
