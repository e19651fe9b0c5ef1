/**
 * The `kv` table: short-lived values shared by every replica (device-flow grants, user codes,
 * rate-limit counters). Rows whose `expires_at` has passed are treated as absent by every read
 * here, whether or not the 30-second sweep has deleted them yet.
 *
 * These functions take the primary's pool; worker threads use the same operations through
 * lib/store/client.ts.
 */
import type { Sql } from './db.js'

/** Result of {@link kvIncr}. */
export interface Counter {
  /** Value of the counter after this increment (1 for the first hit of a window). */
  count: number
  /** When the current window ends and the counter starts again from 1. */
  resetAt: Date
}

function ttlOrNull (ttlSeconds: number | undefined): number | null {
  if (ttlSeconds === undefined || ttlSeconds === null) return null
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`kv ttl must be a positive number of seconds, got ${String(ttlSeconds)}`)
  return ttlSeconds
}

/** The value under `key`, or null when it is missing or expired. */
export async function kvGet (sql: Sql, key: string): Promise<string | null> {
  const rows = await sql<Array<{ value: string }>>`
    select value from kv
    where key = ${key} and (expires_at is null or expires_at > now())`
  return rows[0]?.value ?? null
}

/** Store `value` under `key`, replacing any previous value. Without `ttlSeconds` it never expires. */
export async function kvSet (sql: Sql, key: string, value: string, ttlSeconds?: number): Promise<void> {
  const ttl = ttlOrNull(ttlSeconds)
  await sql`
    insert into kv (key, value, expires_at)
    values (${key}, ${value}, now() + ${ttl}::float8 * interval '1 second')
    on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`
}

/** Remove `key`. Returns whether a live (unexpired) row was removed. */
export async function kvDelete (sql: Sql, key: string): Promise<boolean> {
  const rows = await sql<Array<{ live: boolean }>>`
    delete from kv where key = ${key}
    returning (expires_at is null or expires_at > now()) as live`
  return rows[0]?.live === true
}

/**
 * Read and remove `key` in one statement, so two callers racing for the same one-time value (a
 * device code, say) can never both get it. Returns null when missing or expired.
 */
export async function kvTake (sql: Sql, key: string): Promise<string | null> {
  const rows = await sql<Array<{ value: string, live: boolean }>>`
    delete from kv where key = ${key}
    returning value, (expires_at is null or expires_at > now()) as live`
  const row = rows[0]
  return row !== undefined && row.live ? row.value : null
}

/**
 * Fixed-window counter in one statement. The first hit stores `1` with an expiry `windowSeconds`
 * ahead; later hits inside the window add one and keep that expiry; the first hit after it ends
 * starts a new window at 1. A row that holds no counter (a non-numeric value, or no expiry) is
 * restarted as a fresh window.
 */
export async function kvIncr (sql: Sql, key: string, windowSeconds: number): Promise<Counter> {
  const window = ttlOrNull(windowSeconds)
  if (window === null) throw new RangeError('kvIncr needs a window in seconds')
  const rows = await sql<Array<{ value: string, expires_at: Date }>>`
    insert into kv as k (key, value, expires_at)
    values (${key}, '1', now() + ${window}::float8 * interval '1 second')
    on conflict (key) do update set
      value = case
        when k.expires_at is null or k.expires_at <= now() or k.value !~ '^[0-9]{1,15}$' then '1'
        else (k.value::bigint + 1)::text
      end,
      expires_at = case
        when k.expires_at is null or k.expires_at <= now() or k.value !~ '^[0-9]{1,15}$' then excluded.expires_at
        else k.expires_at
      end
    returning value, expires_at`
  const row = rows[0]
  if (row === undefined) throw new Error('kvIncr: the upsert returned no row')
  return { count: Number(row.value), resetAt: row.expires_at }
}
