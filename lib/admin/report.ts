/**
 * `GET /v1/organizations/spend_report` (Weir extension): spend in one period bucket, summed by
 * developer, group or model, largest first — what `weir admin spend` prints.
 *
 *   by      user | group | model (required)
 *   period  daily | weekly | monthly (default monthly)
 *   bucket  the bucket key (`YYYY-MM-DD`, `YYYY-Www`, `YYYY-MM`; default: the current one)
 *   limit   1–1000 rows (default 100)
 *
 * Amounts are exact: the ledger's micro-cents as a decimal string (`micro_cents`) and as cents with
 * up to three decimals (`spend`, the /effective spelling). `by=user` reads the `spend` ledger;
 * `by=model` the `spend_by_model` ledger (the model the client asked for, migration 0014; spend
 * metered before that migration is not in it); `by=group` adds each developer's spend to every
 * group they were last seen in (`principal_emails.groups`), so a developer in two groups counts in
 * both and the group rows need not add up to the total, which is the sum over developers.
 */
import { bucketKey, isPeriod, type Period } from '../metering/periods.js'
import type { Sql } from '../store/db.js'
import type { AdminReply } from './call.js'
import { centsText } from './shapes.js'
import { LIMIT_MESSAGE, parseLimit } from './validate.js'

const BUCKET: Record<Period, RegExp> = { daily: /^\d{4}-\d{2}-\d{2}$/, weekly: /^\d{4}-W\d{2}$/, monthly: /^\d{4}-\d{2}$/ }
const BUCKET_HINT: Record<Period, string> = { daily: 'YYYY-MM-DD', weekly: 'YYYY-Www', monthly: 'YYYY-MM' }

interface Row { key: string, email?: string | null, micro: string }

export async function spendReport (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const by = q.get('by')
  if (by !== 'user' && by !== 'group' && by !== 'model') return { error: 'GW_BAD_REQUEST', message: 'by: must be one of user, group, model' }
  const period = q.get('period') ?? 'monthly'
  if (!isPeriod(period)) return { error: 'GW_BAD_REQUEST', message: 'period: must be one of daily, weekly, monthly' }
  const bucket = q.get('bucket') ?? bucketKey(period, Date.now())
  if (!BUCKET[period].test(bucket)) return { error: 'GW_BAD_REQUEST', message: `bucket: a ${period} bucket is spelled ${BUCKET_HINT[period]}` }
  const limit = parseLimit(q, 100)
  if (limit === null) return { error: 'GW_BAD_REQUEST', message: LIMIT_MESSAGE }
  let rows: Row[]
  if (by === 'user') {
    rows = await sql<Row[]>`
      select s.principal as key, e.email, s.micro_cents::text as micro from spend s
      left join principal_emails e on e.principal = s.principal
      where s.period = ${bucket} and s.micro_cents > 0
      order by s.micro_cents desc, s.principal limit ${limit + 1}`
  } else if (by === 'model') {
    rows = await sql<Row[]>`
      select model as key, micro_cents::text as micro from spend_by_model
      where period = ${bucket} and micro_cents > 0
      order by micro_cents desc, model limit ${limit + 1}`
  } else {
    rows = await sql<Row[]>`
      select g.name as key, sum(s.micro_cents)::text as micro from spend s
      join principal_emails e on e.principal = s.principal
      cross join lateral jsonb_array_elements_text(case when jsonb_typeof(e.groups) = 'array' then e.groups else '[]'::jsonb end) as g(name)
      where s.period = ${bucket} and s.micro_cents > 0
      group by g.name order by sum(s.micro_cents) desc, g.name limit ${limit + 1}`
  }
  const [total] = await sql<Array<{ micro: string }>>`select coalesce(sum(micro_cents), 0)::text as micro from spend where period = ${bucket}`
  return {
    json: {
      type: 'spend_report',
      by,
      period,
      bucket,
      currency: 'USD',
      data: rows.slice(0, limit).map((r) => ({
        key: r.key,
        ...(by === 'user' ? { email: r.email ?? null } : {}),
        spend: centsText(Number(r.micro)),
        micro_cents: r.micro,
      })),
      has_more: rows.length > limit,
      total: { spend: centsText(Number(total?.micro ?? 0)), micro_cents: total?.micro ?? '0' },
    },
  }
}
