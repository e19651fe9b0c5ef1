/**
 * The metering ledger write, run by the primary only (it owns the one Postgres pool).
 *
 * A flush is one transaction of at most five statements with a fixed number of parameters each
 * (`unnest` over arrays), whatever the number of requests, rows sorted so concurrent replicas lock
 * them in the same order. Amounts are micro-cents (bigint); the reference-compatible `cents`
 * column is derived from them in the same statement. The same requests' lease charges are drawn
 * down in that transaction (lib/spend/store.ts), and the principals' last-seen identities are
 * upserted apart from it.
 */
import { writeUsage } from '../reports/ledger.js'
import { drawDown, int, type LeaseDelta, type LedgerTotal, type LedgerTotals, type Seen } from '../spend/store.js'
import type { Sql } from '../store/db.js'
import type { Rows } from './task.js'
import type { UsageRow } from './usage.js'

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

/** Upsert the last-seen identity of each principal (`principal_emails`, `principals`). */
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
