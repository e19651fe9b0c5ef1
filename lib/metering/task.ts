/**
 * The metering pool's task: price a flush worth of usage batches and add it up per ledger row.
 *
 * Runs in the primary's Piscina pool (lib/workers-pool.ts), one task per flush, never per request;
 * the primary calls the same function inline when the pool's queue is full, so a burst never
 * loses usage. Each record is priced exactly (pricing.ts) with the price version in
 * effect when its request was admitted, and its cost is added to the principal's daily, weekly
 * and monthly buckets of that moment and, when a pooled group paid, to the group's monthly
 * bucket, and to the requested model's three buckets. The result is one entry per distinct row, ready for `unnest` upserts, which is also
 * what Postgres needs: one INSERT … ON CONFLICT may not touch a row twice. Every record (free ones
 * too) is also added to its `usage_minutes` row (usage.ts): tokens by kind and the cost split by
 * kind, whose parts add up to the amount added to the spend rows.
 */
import { bucketsAt } from './periods.js'
import { Pricer, type Counts, type PricingSettings } from './pricing.js'
import { C, NONE, WIDTH, type UsageBatch } from './records.js'
import { LONG_CONTEXT_TOKENS, U_WIDTH, UsageSums, type UsageRow } from './usage.js'

export interface AggregateTask {
  readonly batches: readonly UsageBatch[]
  readonly pricing: PricingSettings | undefined
}

/** Columns for the upserts: one index per row across the three arrays. Amounts in micro-cents. */
export interface Rows { keys: string[], buckets: string[], micro: number[] }

export interface Aggregate {
  readonly spend: Rows
  readonly pooled: Rows
  /** Spend per client-requested model and bucket (the spend report's `by model`). */
  readonly models: Rows
  /** Tokens and cost by kind per minute, principal, model, upstream and context size. */
  readonly usage: UsageRow[]
  /** Records priced and their total, micro-cents. */
  readonly records: number
  readonly total: number
}

let pricer: { json: string, p: Pricer } | null = null
function pricerFor (settings: PricingSettings | undefined): Pricer {
  const json = JSON.stringify(settings ?? null)
  if (pricer === null || pricer.json !== json) pricer = { json, p: new Pricer(settings) }
  return pricer.p
}

class Sums {
  private readonly m = new Map<string, { key: string, bucket: string, micro: number }>()
  add (key: string, bucket: string, micro: number): void {
    const k = `${key}\u0000${bucket}`
    const e = this.m.get(k)
    if (e === undefined) this.m.set(k, { key, bucket, micro })
    else e.micro += micro
  }

  rows (): Rows {
    const out: Rows = { keys: [], buckets: [], micro: [] }
    for (const e of this.m.values()) {
      if (e.micro <= 0) continue
      out.keys.push(e.key)
      out.buckets.push(e.bucket)
      out.micro.push(e.micro)
    }
    return out
  }
}

/** Price and aggregate `task.batches`. Pure CPU work: no I/O. */
export function aggregate (task: AggregateTask): Aggregate {
  const p = pricerFor(task.pricing)
  const spend = new Sums()
  const pooled = new Sums()
  const models = new Sums()
  const usage = new UsageSums()
  const v = new Array<number>(U_WIDTH).fill(0)
  let records = 0
  let total = 0
  const c: Counts = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, webSearch: 0, fast: false }
  for (const b of task.batches) {
    const s = b.strings
    const rows = b.rows
    for (let i = 0; i < b.n; i++) {
      const o = i * WIDTH
      const at = rows[o + C.at] as number
      const sub = s[rows[o + C.sub] as number] as string
      const up = rows[o + C.upstream] as number
      const um = rows[o + C.upstreamModel] as number
      c.input = rows[o + C.input] as number
      c.output = rows[o + C.output] as number
      c.cacheRead = rows[o + C.cacheRead] as number
      c.cacheWrite = rows[o + C.cacheWrite] as number
      c.cacheWrite1h = rows[o + C.cacheWrite1h] as number
      c.webSearch = rows[o + C.webSearch] as number
      c.fast = rows[o + C.fast] === 1
      const clientModel = s[rows[o + C.clientModel] as number] as string
      const priced = p.resolve(up === NONE ? null : s[up] as string, um === NONE ? null : s[um] as string, clientModel)
      const parts = p.costParts(c, priced, at)
      const micro = parts[0] + parts[1] + parts[2] + parts[3] + parts[4] + parts[5]
      const oneHour = Math.min(Math.max(0, c.cacheWrite1h), Math.max(0, c.cacheWrite))
      v[0] = 1; v[1] = c.input; v[2] = c.output; v[3] = c.cacheRead; v[4] = c.cacheWrite - oneHour; v[5] = oneHour; v[6] = c.webSearch
      for (let k = 0; k < 6; k++) v[7 + k] = parts[k] as number
      const long = c.input + c.cacheRead + c.cacheWrite > LONG_CONTEXT_TOKENS
      usage.add(Math.floor(at / 60_000) * 60_000, sub, clientModel, up === NONE ? '' : s[up] as string, long, c.fast, v)
      records++
      if (micro <= 0) continue
      total += micro
      const bk = bucketsAt(at)
      spend.add(sub, bk.keys[0], micro)
      spend.add(sub, bk.keys[1], micro)
      spend.add(sub, bk.keys[2], micro)
      for (const key of bk.keys) models.add(clientModel, key, micro)
      const pool = rows[o + C.pool] as number
      if (pool !== NONE) pooled.add(s[pool] as string, bk.keys[2], micro)
    }
  }
  return { spend: spend.rows(), pooled: pooled.rows(), models: models.rows(), usage: usage.rows(), records, total }
}
