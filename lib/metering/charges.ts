/**
 * What a ledger write charges and reports, shared by metering (which writes the ledger) and spend
 * control (which lends the budget leases a write draws down):
 *   - `LeaseDelta`: one lease's charge or return, in integer micro-cents;
 *   - `drawDown`: subtract deltas from the lease rows, never below zero (the same statement returns
 *     unused budget and charges settled requests);
 *   - `LedgerTotal(s)`: the bucket totals one ledger write left, for the spend alerts;
 *   - `Seen`: a principal's last-seen identity, written beside the ledger.
 * Metering imports nothing from lib/spend/; spend imports this file (money flows one way).
 */
import type { Sql } from '../store/db.js'

/** A micro-cent amount as the integer text Postgres takes: never negative, rounded up. */
export const int = (n: number): string => String(Math.max(0, Math.ceil(n)))

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

/** A bucket's total after a ledger write: principal or group, bucket key, micro-cents as text. */
export interface LedgerTotal { subject: string, period: string, micro: string }

/** What one ledger write changed: principal buckets (`spend`) and pooled group buckets. */
export interface LedgerTotals { spend: LedgerTotal[], pooled: LedgerTotal[] }

/** Last-seen identity of principals, for `/effective` (and the subject in `principals`, migration 0014). */
export interface Seen { sub: string, email: string | null, name: string | null, groups: string[] }
