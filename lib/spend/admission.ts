/**
 * What `SpendAccounting.admit` hands the proxy for one capped (or unchecked) request, and gets back
 * at `headers`, `outputCheck` and `settle`: the holds reserved on this thread's budget leases, the
 * caps and user budgets that apply, the group pool paying (if any), and whether the store was
 * consulted at all (false when it was down and the request went through unchecked).
 */
import type { Hold } from './acquire.js'
import type { Budget } from './budget.js'
import type { EffectiveCap } from './caps.js'

export class SpendAdmission {
  declare readonly __admission: true
  constructor (
    readonly at: number,
    /** Grown in place while a stream runs past its worst case (outputCheck). */
    readonly holds: Hold[],
    readonly caps: readonly EffectiveCap[],
    readonly users: readonly Budget[],
    readonly pool: string | null,
    readonly checked: boolean,
  ) {}
}
