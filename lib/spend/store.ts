/**
 * Spend control's SQL, run by the primary only (it owns the one Postgres pool).
 *
 * Ledger writes are batched: a flush is one transaction of at most five statements with a fixed
 * number of parameters each (`unnest` over arrays), whatever the number of requests, rows sorted
 * so concurrent replicas lock them in the same order. Amounts are micro-cents (bigint); the
 * reference-compatible `cents` column is derived from them in the same statement.
 */
import type { CapRow } from './caps.js'
import type { LeaseReply } from './budget.js'
import type { Rows } from '../metering/task.js'
import type { UsageRow } from '../metering/usage.js'
import { writeUsage } from '../reports/ledger.js'
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

const int = (n: number): string => String(Math.max(0, Math.ceil(n)))

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
async function drawDown (sql: Sql, list: readonly LeaseDelta[]): Promise<void> {
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

/**
 * Write one flush: spend per principal bucket, pooled spend per group bucket, spend per model
 * bucket, token usage and cost by kind per minute (`usage_minutes`), and the lease charges of the
 * same requests, in one transaction. Returns the new total of
 * every principal and pooled group bucket written (spend alerts compare them with the caps).
 */
export async function writeLedger (sql: Sql, spend: Rows, pooled: Rows, charges: readonly LeaseDelta[], models?: Rows, usage?: readonly UsageRow[]): Promise<LedgerTotals> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('statement_timeout', '10000', true)`
    const totals: LedgerTotals = { spend: [], pooled: [] }
    if (spend.keys.length > 0) {
      totals.spend = await tx<LedgerTotal[]>`
        insert into spend (principal, period, cents, micro_cents, updated_at)
        select t.p, t.b, t.m::float8 / 1000000, t.m, now()
        from unnest(${spend.keys}::text[], ${spend.buckets}::text[], ${spend.micro.map(int)}::int8[]) as t(p, b, m)
        order by 1, 2
        on conflict (principal, period) do update set
          micro_cents = spend.micro_cents + excluded.micro_cents,
          cents = (spend.micro_cents + excluded.micro_cents)::float8 / 1000000,
          updated_at = now()
        returning principal as subject, period, micro_cents::text as micro`
    }
    if (pooled.keys.length > 0) {
      totals.pooled = await tx<LedgerTotal[]>`
        insert into pooled_spend (rbac_group_id, period, cents, micro_cents, updated_at)
        select t.g, t.b, t.m::float8 / 1000000, t.m, now()
        from unnest(${pooled.keys}::text[], ${pooled.buckets}::text[], ${pooled.micro.map(int)}::int8[]) as t(g, b, m)
        order by 1, 2
        on conflict (rbac_group_id, period) do update set
          micro_cents = pooled_spend.micro_cents + excluded.micro_cents,
          cents = (pooled_spend.micro_cents + excluded.micro_cents)::float8 / 1000000,
          updated_at = now()
        returning rbac_group_id as subject, period, micro_cents::text as micro`
    }
    if (models !== undefined && models.keys.length > 0) {
      await tx`
        insert into spend_by_model (model, period, micro_cents, updated_at)
        select t.k, t.b, t.m, now()
        from unnest(${models.keys}::text[], ${models.buckets}::text[], ${models.micro.map(int)}::int8[]) as t(k, b, m)
        order by 1, 2
        on conflict (model, period) do update set
          micro_cents = spend_by_model.micro_cents + excluded.micro_cents, updated_at = now()`
    }
    if (usage !== undefined) await writeUsage(tx as unknown as Sql, usage)
    await drawDown(tx as unknown as Sql, charges)
    return totals
  })
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

export async function recordIdentities (sql: Sql, list: readonly Seen[]): Promise<void> {
  if (list.length === 0) return
  const sorted = [...list].sort((a, b) => (a.sub < b.sub ? -1 : 1))
  await sql`
    insert into principal_emails (principal, email, name, groups, updated_at)
    select t.p, t.e, t.n, t.g::jsonb, now()
    from unnest(${sorted.map((x) => x.sub)}::text[], ${sorted.map((x) => x.email)}::text[],
                ${sorted.map((x) => x.name)}::text[], ${sorted.map((x) => JSON.stringify(x.groups))}::text[]) as t(p, e, n, g)
    on conflict (principal) do update set
      email = coalesce(excluded.email, principal_emails.email),
      name = coalesce(excluded.name, principal_emails.name),
      groups = excluded.groups,
      updated_at = now()`
  await sql`
    insert into principals (principal) select unnest(${sorted.map((x) => x.sub)}::text[])
    on conflict (principal) do update set last_seen = now()`
}

/** Delete lease rows that expired a while ago (they count for nothing already). */
export async function pruneLeases (sql: Sql): Promise<number> {
  const r = await sql`delete from spend_leases where expires_at < now() - interval '1 minute'`
  return r.count
}
