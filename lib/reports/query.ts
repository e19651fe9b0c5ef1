/**
 * The one aggregate query both ledger reports run (migration 0016): sums of the chosen columns per
 * time bucket and per the chosen dimensions, for one page of buckets — over `usage_minutes` for
 * minute buckets, over its hourly sums `usage_hours` for hour and day buckets that group or filter
 * by a person, over the organization's hourly sums `usage_org_hours` (migration 0021) for the
 * other hour buckets, over the organization's daily sums `usage_org_days` (migration
 * 0019, no developer) for the other day buckets (the overview charts), and over the daily sums
 * per IdP group `usage_group_days` (migration 0020) for day buckets grouped by `idp_group` that
 * otherwise neither group nor filter by a person: that table holds exactly what the join below
 * gives from `usage_hours` (kept so by the flush and by triggers on `principal_emails`).
 *
 * Invariants: the SQL text is assembled only from the fixed DIMENSIONS/FILTERS tables below (every
 * value the caller sent travels as a bind parameter); buckets are whole multiples of the width
 * counted from the Unix epoch in UTC, so a day bucket is a UTC calendar day; sums come back as
 * decimal text, so no amount passes through a float. Weir's dimensions join the developer's last
 * seen identity (`principal_emails`): `idp_group` counts a developer in every group they were
 * last seen in (so group rows need not add up to the total), and a developer with no known
 * groups or email appears with null there.
 */
import type { Sql } from '../store/db.js'
import type { Range } from './params.js'

/** SQL of each dimension a report may group by. */
const DIMENSIONS: Record<string, string> = {
  model: 'u.model',
  account_id: 'u.principal',
  upstream: "nullif(u.upstream, '')",
  context_window: "case when u.long_context then '200k-1M' else '0-200k' end",
  speed: "case when u.fast then 'fast' else 'standard' end",
  user_email: 'e.email',
  idp_group: 'g.name',
}

/** SQL of each filter; `$` stands for the bind parameter holding the values (text[]). */
const FILTERS: Record<string, string> = {
  models: 'u.model = any($)',
  account_ids: 'u.principal = any($)',
  upstreams: 'u.upstream = any($)',
  context_window: "(case when u.long_context then '200k-1M' else '0-200k' end) = any($)",
  speeds: "(case when u.fast then 'fast' else 'standard' end) = any($)",
  // Weir's one service tier and inference geo: the filter keeps everything or nothing.
  service_tiers: "'standard' = any($)",
  inference_geos: "'not_available' = any($)",
  user_emails: 'lower(e.email) = any(select lower(x) from unnest($::text[]) x)',
  idp_groups: "exists (select 1 from jsonb_array_elements_text(case when jsonb_typeof(e.groups) = 'array' then e.groups else '[]'::jsonb end) x where x = any($))",
}

/** Names of the dimensions the query can group by. */
export const GROUPABLE = Object.keys(DIMENSIONS)

export interface SumRow {
  /** Bucket start, ms. */
  readonly bucket: number
  /** Dimension values, by name. */
  readonly dims: Record<string, string | null>
  /** Column sums as decimal text, by column name. */
  readonly sums: Record<string, string>
}

/** Sum `columns` per bucket of `r` and per `dims` (names in DIMENSIONS), filtered by `r.filters`. */
export async function sumUsage (sql: Sql, r: Range, dims: readonly string[], columns: readonly string[]): Promise<SumRow[]> {
  const rows = await sumValues(sql, r, dims, columns)
  return rows.map((row) => ({
    bucket: Number(row[0]) * 1000,
    dims: Object.fromEntries(dims.map((d, i) => [d, row[i + 1] ?? null])),
    sums: Object.fromEntries(columns.map((c, i) => [c, row[i + 1 + dims.length] ?? '0'])),
  }))
}

/**
 * What sumUsage reads, as arrays (no object per row): the bucket start in epoch seconds (an int8,
 * which postgres.js gives as decimal text; grouped and sorted as an integer, a third cheaper than
 * as text for 5,000 groups), then each dimension's value in `dims` order, then each column's sum
 * (decimal text) in `columns` order. Ordered by bucket, then by the dimensions (nulls last).
 */
export async function sumValues (sql: Sql, r: Range, dims: readonly string[], columns: readonly string[]): Promise<Array<Array<string | null>>> {
  if (r.to <= r.from) return []
  const params: unknown[] = [r.widthMs / 1000, new Date(r.from).toISOString(), new Date(r.to).toISOString()]
  const bind = (v: unknown): string => { params.push(v); return `$${params.length}` }
  const needIdentity = dims.some((d) => d === 'user_email' || d === 'idp_group') || r.filters.has('user_emails') || r.filters.has('idp_groups')
  const byGroup = dims.includes('idp_group')
  const byPerson = needIdentity || dims.includes('account_id') || r.filters.has('account_ids')
  // Grouped by idp_group and by no other person dimension or filter (an idp_groups filter then
  // only keeps those groups' rows): the per-group day sums.
  const groupDays = r.width === '1d' && byGroup && !dims.some((d) => d === 'user_email' || d === 'account_id') &&
    !r.filters.has('user_emails') && !r.filters.has('account_ids')
  const [table, at] = r.width === '1m'
    ? ['usage_minutes', 'u.minute']
    : groupDays ? ['usage_group_days', 'u.day']
      : !byPerson ? (r.width === '1d' ? ['usage_org_days', 'u.day'] : ['usage_org_hours', 'u.hour']) : ['usage_hours', 'u.hour']
  const where = [`${at} >= $2::timestamptz`, `${at} < $3::timestamptz`]
  for (const [name, vals] of r.filters) {
    const f = groupDays && name === 'idp_groups' ? 'u.idp_group = any($)' : FILTERS[name]
    if (f === undefined) continue
    where.push(f.replace('$', `${bind(vals)}::text[]`))
    if (name === 'idp_groups' && byGroup && !groupDays) where.push(`g.name = any(${bind(vals)}::text[])`)
  }
  const dimSql = dims.map((d, i) => `${groupDays && d === 'idp_group' ? "nullif(u.idp_group, '')" : DIMENSIONS[d] as string} as d${i}`)
  const sumSql = columns.map((c, i) => `sum(u.${c})::text as s${i}`)
  const text = `
    select (floor(extract(epoch from ${at}) / $1::int) * $1::int)::bigint as b${dimSql.map((x) => `, ${x}`).join('')}${sumSql.map((x) => `, ${x}`).join('')}
    from ${table} u
    ${needIdentity && !groupDays ? 'left join principal_emails e on e.principal = u.principal' : ''}
    ${byGroup && !groupDays ? "left join lateral jsonb_array_elements_text(case when jsonb_typeof(e.groups) = 'array' then e.groups else '[]'::jsonb end) as g(name) on true" : ''}
    where ${where.join(' and ')}
    group by 1${dims.map((_d, i) => `, ${i + 2}`).join('')}
    order by 1${dims.map((_d, i) => `, ${i + 2} nulls last`).join('')}`
  return await sql.unsafe(text, params as never[]).values() as unknown as Array<Array<string | null>>
}
