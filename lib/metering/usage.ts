/**
 * Token usage and cost per minute, developer, requested model, upstream, context size and speed
 * (fast mode, `usage.speed: "fast"`; migration 0018): the
 * rows of the `usage_minutes` ledger (migration 0016) that the Admin API report shapes read.
 *
 * The metering task (task.ts) adds every priced record here next to its spend; the meter keeps
 * the rows it could not write yet and merges them with later ones, bounded like the spend rows.
 * Invariants: a row's six cost columns add up to exactly what the same requests added to the
 * `spend` ledger (the cost is split with Pricer.costParts); all values are whole numbers well
 * below 2⁵³, so plain numbers hold them exactly; a key appears once per UsageRows (Postgres may
 * not upsert one row twice in a statement).
 */

/** Value columns, in order. */
export const U = Object.freeze({
  requests: 0, input: 1, output: 2, cacheRead: 3, cacheWrite5m: 4, cacheWrite1h: 5, webSearch: 6,
  inputCost: 7, outputCost: 8, cacheReadCost: 9, cacheWrite5mCost: 10, cacheWrite1hCost: 11, webSearchCost: 12,
})
export const U_WIDTH = 13
/** Prompts above this many tokens (input + cache read + cache write) are "200k-1M" context. */
export const LONG_CONTEXT_TOKENS = 200_000

/** One row: its key and U_WIDTH sums. */
export interface UsageRow {
  readonly minute: number
  readonly principal: string
  readonly model: string
  readonly upstream: string
  readonly long: boolean
  /** The upstream reported `usage.speed: "fast"` (fast mode). */
  readonly fast: boolean
  readonly v: number[]
}

/** Rows summed by key. */
export class UsageSums {
  private readonly m = new Map<string, UsageRow>()

  get size (): number { return this.m.size }

  /** Add `v` to the row of this key; false (nothing added) when the key is new and `max` rows are held. */
  add (minute: number, principal: string, model: string, upstream: string, long: boolean, fast: boolean, v: readonly number[], max = Infinity): boolean {
    const k = `${minute}\u0000${principal}\u0000${model}\u0000${upstream}\u0000${long ? 1 : 0}${fast ? 1 : 0}`
    const e = this.m.get(k)
    if (e !== undefined) {
      for (let i = 0; i < U_WIDTH; i++) (e.v[i] as number) += v[i] as number
      return true
    }
    if (this.m.size >= max) return false
    this.m.set(k, { minute, principal, model, upstream, long, fast, v: [...v] })
    return true
  }

  /** Merge `rows` in; returns how many new rows did not fit under `max`. */
  merge (rows: readonly UsageRow[], max = Infinity): number {
    let dropped = 0
    for (const r of rows) if (!this.add(r.minute, r.principal, r.model, r.upstream, r.long, r.fast, r.v, max)) dropped++
    return dropped
  }

  rows (): UsageRow[] { return [...this.m.values()] }
}
