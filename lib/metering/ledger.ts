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
import { drawDown, int, type LeaseDelta, type LedgerTotal, type LedgerTotals, type Seen } from './charges.js'
import type { Sql } from '../store/db.js'
import type { Rows } from './task.js'
import type { UsageRow } from './usage.js'

/**
 * Write one flush: spend per principal bucket, pooled spend per group bucket, spend per model
 * bucket (one upsert builder over the three, `addSpend`), token usage and cost by kind per minute (`usage_minutes`), and the lease charges of the
 * same requests, in one transaction. Returns the new total of
 * every principal and pooled group bucket written (spend alerts compare them with the caps).
 */
export async function writeLedger (sql: Sql, spend: Rows, pooled: Rows, charges: readonly LeaseDelta[], models?: Rows, usage?: readonly UsageRow[]): Promise<LedgerTotals> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('statement_timeout', '10000', true)`
    const totals: LedgerTotals = { spend: [], pooled: [] }
    if (spend.keys.length > 0) totals.spend = await addSpend(tx as unknown as Sql, PRINCIPAL_SPEND, spend)
    if (pooled.keys.length > 0) totals.pooled = await addSpend(tx as unknown as Sql, POOLED_SPEND, pooled)
    if (models !== undefined && models.keys.length > 0) await addSpend(tx as unknown as Sql, MODEL_SPEND, models)
    if (usage !== undefined) await writeUsage(tx as unknown as Sql, usage)
    await drawDown(tx as unknown as Sql, charges)
    return totals
  })
}

/**
 * The three spend tables: per principal bucket, pooled per group bucket (both with the
 * reference-compatible `cents` column), and per model bucket (micro-cents only, migration 0014).
 */
interface SpendTable { table: 'spend' | 'pooled_spend' | 'spend_by_model', key: 'principal' | 'rbac_group_id' | 'model', cents: boolean }
const PRINCIPAL_SPEND: SpendTable = { table: 'spend', key: 'principal', cents: true }
const POOLED_SPEND: SpendTable = { table: 'pooled_spend', key: 'rbac_group_id', cents: true }
const MODEL_SPEND: SpendTable = { table: 'spend_by_model', key: 'model', cents: false }

/**
 * Add each row's micro-cents to its (key, period) bucket of `table`, rows sorted for the lock
 * order; where the table has `cents`, it is derived from the new micro-cent total in the same
 * statement. Returns every bucket's new total.
 */
async function addSpend (tx: Sql, { table, key, cents }: SpendTable, rows: Rows): Promise<LedgerTotal[]> {
  const none = tx``
  return await tx<LedgerTotal[]>`
    insert into ${tx(table)} (${tx(key)}, period, ${cents ? tx`cents, ` : none}micro_cents, updated_at)
    select t.k, t.b, ${cents ? tx`t.m::float8 / 1000000, ` : none}t.m, now()
    from unnest(${rows.keys}::text[], ${rows.buckets}::text[], ${rows.micro.map(int)}::int8[]) as t(k, b, m)
    order by 1, 2
    on conflict (${tx(key)}, period) do update set
      micro_cents = ${tx(table)}.micro_cents + excluded.micro_cents,
      ${cents ? tx`cents = (${tx(table)}.micro_cents + excluded.micro_cents)::float8 / 1000000,` : none}
      updated_at = now()
    returning ${tx(key)} as subject, period, micro_cents::text as micro`
}

/**
 * Upsert the last-seen identity of each principal (`principal_emails`, `principals`), each its own
 * one-statement transaction. Rows are locked in principal order in SQL (the column's collation, not
 * JavaScript's), the order the identity sweep locks the rows it deletes (lib/store/sweeps.ts), and
 * the group-move triggers (migration 0020) take their advisory lock after the statement's last row
 * lock: an identity batch and the sweep cannot deadlock.
 */
export async function recordIdentities (sql: Sql, list: readonly Seen[]): Promise<void> {
  if (list.length === 0) return
  await sql`
    insert into principal_emails (principal, email, name, groups, updated_at)
    select t.p, t.e, t.n, t.g::jsonb, now()
    from unnest(${list.map((x) => x.sub)}::text[], ${list.map((x) => x.email)}::text[],
                ${list.map((x) => x.name)}::text[], ${list.map((x) => JSON.stringify(x.groups))}::text[]) as t(p, e, n, g)
    order by t.p
    on conflict (principal) do update set
      email = coalesce(excluded.email, principal_emails.email),
      name = coalesce(excluded.name, principal_emails.name),
      groups = excluded.groups,
      updated_at = now()`
  await sql`
    insert into principals (principal) select p from unnest(${list.map((x) => x.sub)}::text[]) as p order by 1
    on conflict (principal) do update set last_seen = now()`
}
