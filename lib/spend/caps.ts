/**
 * The caps set through the admin API, held in memory by every worker, and the rules that decide
 * which one applies to a developer.
 *
 * Per period, the effective cap of principal P with IdP groups G is the first of the matching
 * rows (P's `user` row, the `rbac_group` rows of G, the `organization` row) in this order:
 *   1. scope: user, then rbac_group, then organization — a matching user row always wins, even
 *      with amount null (an explicit "unlimited" override), and a group row (even null) beats the
 *      organization row;
 *   2. `admin.group_limit_mode: min` puts numeric caps before null ones and then the smallest
 *      first; `max` puts null (unlimited) first and then the largest;
 *   3. the row id breaks ties.
 * A null winner, or no row, leaves the period uncapped. Group and organization caps are per-seat
 * defaults: each member's own spend counts against them.
 *
 * Pooled group budgets (2.1.328) are different: a monthly amount the members of an rbac_group
 * share, set on the group's monthly row. A member of several pooled groups draws on them in order
 * — `admin.pooled_priority_order` when `pooled_conflict_rule: priority_list`, else the largest
 * pool first (ties by name) — and the first one with budget left pays.
 */
import { PERIODS, type Period, isPeriod } from '../metering/periods.js'

export type ScopeType = 'user' | 'rbac_group' | 'organization'

/** One `spend_limits` row as the workers receive it. Amounts are cents, as decimal strings. */
export interface CapRow {
  readonly id: string
  readonly scope_type: ScopeType
  readonly scope_id: string
  readonly amount: string | null
  readonly period: Period
  readonly pooled_limit_enabled: boolean
  readonly pooled_monthly_credit_limit: string | null
}

/** The cap that applies to one period. */
export interface EffectiveCap {
  readonly period: Period
  /** Cap in cents (a number: caps above 2⁵³ cents are beyond any real budget). */
  readonly cents: number
  /** The row's amount exactly as stored, for the lease statement's freshness check. */
  readonly amount: string
  readonly limitId: string
  readonly scope: ScopeType
}

/** A pooled group budget a principal may draw on. */
export interface PoolCap {
  readonly group: string
  readonly cents: number
  readonly amount: string
  readonly limitId: string
}

/** Everything spend control needs to know about one principal's caps. */
export interface Resolution {
  /** Capped periods only, in PERIODS order. */
  readonly caps: readonly EffectiveCap[]
  /** Pools in the order they are drawn on. */
  readonly pools: readonly PoolCap[]
  /** One entry per period (null: uncapped), for `/effective`. */
  readonly byPeriod: ReadonlyArray<{ row: CapRow | null }>
}

export interface PoolRules {
  readonly mode: 'min' | 'max'
  readonly priority?: readonly string[] | undefined
}

const rank = (r: CapRow): number => r.scope_type === 'user' ? 0 : r.scope_type === 'rbac_group' ? 1 : 2

/** Sort key comparison implementing the precedence above. */
export function comparePrecedence (a: CapRow, b: CapRow, mode: 'min' | 'max'): number {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  const na = a.amount === null
  const nb = b.amount === null
  if (na !== nb) return (mode === 'min' ? (na ? 1 : -1) : (na ? -1 : 1))
  if (!na && !nb && a.scope_type === 'rbac_group') {
    const d = Number(a.amount) - Number(b.amount)
    if (d !== 0) return mode === 'min' ? d : -d
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** An immutable index of every cap row. */
export class CapBook {
  readonly version: number
  private readonly users = new Map<string, CapRow[]>()
  private readonly groups = new Map<string, CapRow[]>()
  private readonly org: CapRow[] = []
  /** True when no row exists at all: every principal is uncapped and nothing needs resolving. */
  readonly empty: boolean

  constructor (readonly rows: readonly CapRow[], version = 0) {
    this.version = version
    for (const r of rows) {
      if (!isPeriod(r.period)) continue
      if (r.scope_type === 'user') push(this.users, r.scope_id, r)
      else if (r.scope_type === 'rbac_group') push(this.groups, r.scope_id, r)
      else if (r.scope_type === 'organization') this.org.push(r)
    }
    this.empty = rows.length === 0
  }

  /** The rows that match `sub` with `groups`, winner first, for one period. */
  private matching (sub: string, groups: readonly string[], period: Period, mode: 'min' | 'max'): CapRow[] {
    const out: CapRow[] = []
    for (const r of this.users.get(sub) ?? []) if (r.period === period) out.push(r)
    for (const g of groups) for (const r of this.groups.get(g) ?? []) if (r.period === period) out.push(r)
    for (const r of this.org) if (r.period === period) out.push(r)
    return out.sort((a, b) => comparePrecedence(a, b, mode))
  }

  /** Resolve the caps and pools of one principal. */
  resolve (sub: string, groups: readonly string[], rules: PoolRules): Resolution {
    const caps: EffectiveCap[] = []
    const byPeriod: Array<{ row: CapRow | null }> = []
    for (const period of PERIODS) {
      const win = this.matching(sub, groups, period, rules.mode)[0] ?? null
      byPeriod.push({ row: win })
      if (win !== null && win.amount !== null) {
        caps.push({ period, cents: Number(win.amount), amount: win.amount, limitId: win.id, scope: win.scope_type })
      }
    }
    const pools: PoolCap[] = []
    for (const g of new Set(groups)) {
      for (const r of this.groups.get(g) ?? []) {
        if (r.period === 'monthly' && r.pooled_limit_enabled && r.pooled_monthly_credit_limit !== null) {
          pools.push({ group: g, cents: Number(r.pooled_monthly_credit_limit), amount: r.pooled_monthly_credit_limit, limitId: r.id })
        }
      }
    }
    const order = rules.priority
    if (order !== undefined && order.length > 0) {
      const at = (g: string): number => { const i = order.indexOf(g); return i < 0 ? order.length : i }
      pools.sort((a, b) => at(a.group) - at(b.group) || (a.group < b.group ? -1 : 1))
    } else {
      pools.sort((a, b) => b.cents - a.cents || (a.group < b.group ? -1 : 1))
    }
    return { caps, pools, byPeriod }
  }
}

function push (m: Map<string, CapRow[]>, k: string, r: CapRow): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [r])
  else l.push(r)
}
