/**
 * Writes of the report ledger (migrations 0016, 0018–0021): `usage_minutes`, its hourly sums
 * `usage_hours`, the organization's hourly and daily sums `usage_org_hours`, `usage_org_days` (no developer) and the daily sums
 * per IdP group `usage_group_days` (each minute under the groups its developer's last-seen
 * identity holds at the flush, '' for none; triggers on principal_emails move a developer's
 * history when their groups change, under advisory lock 7301020, which the flush takes shared
 * before writing so the two never interleave), run by the
 * primary inside the metering flush's transaction (lib/metering/ledger.ts), so usage and spend
 * commit together or not at all. Three statements with a fixed number of array parameters each,
 * whatever the row count (the hourly and daily ones sum the minutes of an hour or UTC day first);
 * rows sorted by key so concurrent replicas lock them in the same order; values are added to what
 * the row holds. The statements are built once from one column list (SUMS), so the minute, hour,
 * day and group-day upserts cannot drift apart.
 */
import type { Sql } from '../store/db.js'
import { describeError, ops } from '../log.js'
import { U_WIDTH, type UsageRow } from '../metering/usage.js'

/** The value columns, in UsageRow.v order (U in lib/metering/usage.ts). */
const SUMS = [
  'requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'web_search_requests',
  'input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents',
] as const
if (SUMS.length !== U_WIDTH) throw new Error('lib/reports/ledger.ts: SUMS does not match U_WIDTH')

/**
 * The upsert into `table`, whose time column is `at`: `time` is the SQL of a row's time from the
 * minute `t.mi` (minutes are summed per that time first unless it is the minute itself);
 * `principal` whether the table is per developer. Parameters $1..$6 are the key arrays (minute,
 * principal, model, upstream, long, fast), $7.. the value arrays.
 */
function upsert (table: string, at: string, time: string, by: 'principal' | 'org' | 'group'): string {
  const vals = SUMS.map((_c, i) => `$${i + 7}::int8[]`).join(', ')
  const cols = SUMS.map((_c, i) => `c${i}`)
  const summed = time !== 't.mi' || by !== 'principal'
  const sel = summed ? cols.map((c) => `sum(t.${c})`) : cols.map((c) => `t.${c}`)
  const first = by === 'principal' ? ['principal'] : by === 'group' ? ['idp_group'] : []
  const key = [...first, 'model', 'upstream', 'long_context', 'fast']
  const keySel = [...(by === 'principal' ? ['t.p'] : by === 'group' ? ['n.name'] : []), 't.mo', 't.u', 't.l', 't.f']
  const ordinals = key.map((_k, i) => i + 2).join(', ')
  return `
    insert into ${table} (${at}, ${key.join(', ')}, ${SUMS.join(', ')}, updated_at)
    select ${time}, ${keySel.join(', ')}, ${sel.join(', ')}, now()
    from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[]::bool[], $6::text[]::bool[], ${vals})
      as t(mi, p, mo, u, l, f, ${cols.join(', ')})
    ${by === 'group' ? 'left join principal_emails e on e.principal = t.p cross join lateral weir_usage_group_names(e.groups) as n(name)' : ''}
    ${summed ? `group by 1, ${ordinals}` : ''}
    order by 1, ${ordinals}
    on conflict (${at}, ${key.join(', ')}) do update set
      ${SUMS.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(',\n      ')},
      updated_at = now()`
}

const MINUTES = upsert('usage_minutes', 'minute', 't.mi', 'principal')
const HOURS = upsert('usage_hours', 'hour', "date_trunc('hour', t.mi)", 'principal')
const ORG_HOURS = upsert('usage_org_hours', 'hour', "date_trunc('hour', t.mi)", 'org')
const ORG_DAYS = upsert('usage_org_days', 'day', "date_trunc('day', t.mi, 'UTC')", 'org')
const GROUP_DAYS = upsert('usage_group_days', 'day', "date_trunc('day', t.mi, 'UTC')", 'group')
/** Shared by every flush, exclusive by a group move (migration 0020). */
const GROUP_LOCK = 'select pg_advisory_xact_lock_shared(7301020)'

const int = (n: number): string => String(Math.max(0, Math.round(n)))

export async function writeUsage (sql: Sql, rows: readonly UsageRow[]): Promise<void> {
  if (rows.length === 0) return
  const keys: string[][] = [[], [], [], [], [], []]
  const vals: string[][] = Array.from({ length: U_WIDTH }, () => [])
  for (const r of rows) {
    keys[0]?.push(new Date(r.minute).toISOString())
    keys[1]?.push(r.principal)
    keys[2]?.push(r.model)
    keys[3]?.push(r.upstream)
    keys[4]?.push(r.long ? 'true' : 'false')
    keys[5]?.push(r.fast ? 'true' : 'false')
    for (let i = 0; i < U_WIDTH; i++) (vals[i] as string[]).push(int(r.v[i] as number))
  }
  const params = [...keys, ...vals] as never[]
  await sql.unsafe(GROUP_LOCK)
  await sql.unsafe(MINUTES, params)
  await sql.unsafe(HOURS, params)
  await sql.unsafe(ORG_HOURS, params)
  await sql.unsafe(ORG_DAYS, params)
  // The group sums read principal_emails: when that table cannot be read the spend and the other
  // ledger rows still commit (a savepoint inside the flush), and the miss is logged.
  const tx = sql as unknown as { savepoint?: (fn: (s: Sql) => Promise<unknown>) => Promise<unknown> }
  if (typeof tx.savepoint !== 'function') { await sql.unsafe(GROUP_DAYS, params); return }
  try { await tx.savepoint(async (s) => await s.unsafe(GROUP_DAYS, params)) } catch (err) {
    ops.warn(`usage_group_days not updated for ${rows.length} ledger rows: ${describeError(err)}; group reports miss them until rebuilt from usage_hours`)
  }
}
