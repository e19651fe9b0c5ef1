/**
 * JSON shapes of the admin API (Anthropic Admin API "spend limits", as the reference gateway
 * serves them): the `spend_limit` object, the snapshots kept in `admin_audit`, and amount
 * formatting. Amounts are cents as decimal strings; timestamps RFC 3339 with milliseconds; key
 * order as the reference emits it.
 */
import type { Period } from '../metering/periods.js'

export type ScopeType = 'user' | 'rbac_group' | 'organization'

/** A `spend_limits` row as read by the admin service (bigints as text). */
export interface LimitRow {
  id: string
  scope_type: ScopeType
  scope_id: string
  amount: string | null
  period: Period
  currency: string
  pooled_limit_enabled: boolean
  pooled_monthly_credit_limit: string | null
  created_at: Date
  updated_at: Date
}

/** Columns to select for a LimitRow. */
export const LIMIT_COLUMNS = 'id, scope_type, scope_id, amount::text as amount, period, currency, pooled_limit_enabled, pooled_monthly_credit_limit::text as pooled_monthly_credit_limit, created_at, updated_at'

export function scopeJson (type: ScopeType, id: string): Record<string, string> {
  if (type === 'user') return { type: 'user', user_id: id }
  if (type === 'rbac_group') return { type: 'rbac_group', rbac_group_id: id }
  return { type: 'organization' }
}

/** A group's monthly row can carry a pooled budget, so it always shows the field (null when none). */
const hasPoolField = (r: LimitRow): boolean => r.scope_type === 'rbac_group' && r.period === 'monthly'

const poolOf = (r: LimitRow): { amount: string, paused: boolean } | null =>
  r.pooled_monthly_credit_limit === null ? null : { amount: r.pooled_monthly_credit_limit, paused: !r.pooled_limit_enabled }

/** The snapshot stored in `admin_audit.before/after`. */
export function snapshot (r: LimitRow): Record<string, unknown> {
  return {
    id: r.id,
    scope: scopeJson(r.scope_type, r.scope_id),
    amount: r.amount,
    period: r.period,
    currency: r.currency,
    ...(hasPoolField(r) ? { pooled_budget: poolOf(r) } : {}),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  }
}

/** The `spend_limit` object; `pooledSpendMicro` is the group's pooled spend this month. */
export function limitJson (r: LimitRow, pooledSpendMicro: number): Record<string, unknown> {
  const pool = poolOf(r)
  return {
    type: 'spend_limit',
    id: r.id,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    scope: scopeJson(r.scope_type, r.scope_id),
    amount: r.amount,
    currency: r.currency,
    period: r.period,
    ...(hasPoolField(r)
      ? { pooled_budget: pool === null ? null : { ...pool, currency: r.currency, period_to_date_spend: centsText(pooledSpendMicro) } }
      : {}),
  }
}

/** Micro-cents as cents with at most three decimals, trailing zeros removed ("0", "12050.5"). */
export function centsText (micro: number): string {
  const milli = Math.round(micro / 1000)
  const whole = Math.trunc(milli / 1000)
  const frac = Math.abs(milli % 1000)
  if (frac === 0) return String(whole)
  return `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`
}

/** A fresh spend limit id: `spl_` + 32 lowercase hex digits. */
export function newLimitId (uuid: string): string {
  return `spl_${uuid.replace(/-/g, '')}`
}
