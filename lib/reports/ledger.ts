/**
 * Writes of the report ledger (migration 0016): `usage_minutes` and its hourly sums `usage_hours`,
 * run by the primary inside the metering flush's transaction (lib/metering/ledger.ts), so
 * usage and spend commit together or not at all. Two statements with a fixed number of array
 * parameters each, whatever the row count (the hourly one sums the minutes of an hour first);
 * rows sorted by key so concurrent replicas lock them in the same order; values are added to
 * what the row holds.
 */
import type { Sql } from '../store/db.js'
import { U_WIDTH, type UsageRow } from '../metering/usage.js'


const int = (n: number): string => String(Math.max(0, Math.round(n)))

export async function writeUsage (sql: Sql, rows: readonly UsageRow[]): Promise<void> {
  if (rows.length === 0) return
  const minute: string[] = []
  const principal: string[] = []
  const model: string[] = []
  const upstream: string[] = []
  const long: string[] = []
  const vals: string[][] = Array.from({ length: U_WIDTH }, () => [])
  for (const r of rows) {
    minute.push(new Date(r.minute).toISOString())
    principal.push(r.principal)
    model.push(r.model)
    upstream.push(r.upstream)
    long.push(r.long ? 'true' : 'false')
    for (let i = 0; i < U_WIDTH; i++) (vals[i] as string[]).push(int(r.v[i] as number))
  }
  const v = vals as [string[], string[], string[], string[], string[], string[], string[], string[], string[], string[], string[], string[], string[]]
  await sql`
    insert into usage_minutes (minute, principal, model, upstream, long_context, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests,
      input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents, updated_at)
    select t.mi, t.p, t.mo, t.u, t.l, t.c0, t.c1, t.c2, t.c3, t.c4, t.c5, t.c6, t.c7, t.c8, t.c9, t.c10, t.c11, t.c12, now()
    from unnest(${minute}::timestamptz[], ${principal}::text[], ${model}::text[], ${upstream}::text[], ${long}::text[]::bool[],
      ${v[0]}::int8[], ${v[1]}::int8[], ${v[2]}::int8[], ${v[3]}::int8[], ${v[4]}::int8[], ${v[5]}::int8[], ${v[6]}::int8[],
      ${v[7]}::int8[], ${v[8]}::int8[], ${v[9]}::int8[], ${v[10]}::int8[], ${v[11]}::int8[], ${v[12]}::int8[])
      as t(mi, p, mo, u, l, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)
    order by 1, 2, 3, 4, 5
    on conflict (minute, principal, model, upstream, long_context) do update set
      requests = usage_minutes.requests + excluded.requests,
      input_tokens = usage_minutes.input_tokens + excluded.input_tokens,
      output_tokens = usage_minutes.output_tokens + excluded.output_tokens,
      cache_read_tokens = usage_minutes.cache_read_tokens + excluded.cache_read_tokens,
      cache_write_5m_tokens = usage_minutes.cache_write_5m_tokens + excluded.cache_write_5m_tokens,
      cache_write_1h_tokens = usage_minutes.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
      web_search_requests = usage_minutes.web_search_requests + excluded.web_search_requests,
      input_micro_cents = usage_minutes.input_micro_cents + excluded.input_micro_cents,
      output_micro_cents = usage_minutes.output_micro_cents + excluded.output_micro_cents,
      cache_read_micro_cents = usage_minutes.cache_read_micro_cents + excluded.cache_read_micro_cents,
      cache_write_5m_micro_cents = usage_minutes.cache_write_5m_micro_cents + excluded.cache_write_5m_micro_cents,
      cache_write_1h_micro_cents = usage_minutes.cache_write_1h_micro_cents + excluded.cache_write_1h_micro_cents,
      web_search_micro_cents = usage_minutes.web_search_micro_cents + excluded.web_search_micro_cents,
      updated_at = now()`
  await sql`
    insert into usage_hours (hour, principal, model, upstream, long_context, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests,
      input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents, updated_at)
    select date_trunc('hour', t.mi), t.p, t.mo, t.u, t.l, sum(t.c0), sum(t.c1), sum(t.c2), sum(t.c3), sum(t.c4), sum(t.c5), sum(t.c6),
      sum(t.c7), sum(t.c8), sum(t.c9), sum(t.c10), sum(t.c11), sum(t.c12), now()
    from unnest(${minute}::timestamptz[], ${principal}::text[], ${model}::text[], ${upstream}::text[], ${long}::text[]::bool[],
      ${v[0]}::int8[], ${v[1]}::int8[], ${v[2]}::int8[], ${v[3]}::int8[], ${v[4]}::int8[], ${v[5]}::int8[], ${v[6]}::int8[],
      ${v[7]}::int8[], ${v[8]}::int8[], ${v[9]}::int8[], ${v[10]}::int8[], ${v[11]}::int8[], ${v[12]}::int8[])
      as t(mi, p, mo, u, l, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)
    group by 1, 2, 3, 4, 5
    order by 1, 2, 3, 4, 5
    on conflict (hour, principal, model, upstream, long_context) do update set
      requests = usage_hours.requests + excluded.requests,
      input_tokens = usage_hours.input_tokens + excluded.input_tokens,
      output_tokens = usage_hours.output_tokens + excluded.output_tokens,
      cache_read_tokens = usage_hours.cache_read_tokens + excluded.cache_read_tokens,
      cache_write_5m_tokens = usage_hours.cache_write_5m_tokens + excluded.cache_write_5m_tokens,
      cache_write_1h_tokens = usage_hours.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
      web_search_requests = usage_hours.web_search_requests + excluded.web_search_requests,
      input_micro_cents = usage_hours.input_micro_cents + excluded.input_micro_cents,
      output_micro_cents = usage_hours.output_micro_cents + excluded.output_micro_cents,
      cache_read_micro_cents = usage_hours.cache_read_micro_cents + excluded.cache_read_micro_cents,
      cache_write_5m_micro_cents = usage_hours.cache_write_5m_micro_cents + excluded.cache_write_5m_micro_cents,
      cache_write_1h_micro_cents = usage_hours.cache_write_1h_micro_cents + excluded.cache_write_1h_micro_cents,
      web_search_micro_cents = usage_hours.web_search_micro_cents + excluded.web_search_micro_cents,
      updated_at = now()`
}
