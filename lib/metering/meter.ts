/**
 * Primary side of metering: from the workers' usage batches to the ledger in Postgres.
 *
 * Every flush interval (100 ms, lib/metering/outbox.ts) the batches that arrived are priced and summed per ledger row by one
 * task on the primary's Piscina pool (task.ts; inline when the pool's queue is full), added to the
 * rows still waiting to be written, and written in one transaction (ledger.ts `writeLedger`):
 * spend per principal bucket, pooled spend per group, usage and cost by kind per minute
 * (`usage_minutes`, usage.ts), and the lease charges of the same requests.
 * Only one write runs at a time, so metering holds at most one of the pool's connections.
 *
 * When Postgres is down the rows stay in memory, already summed (so memory grows with distinct
 * principals and buckets, not with requests), and are retried with backoff until a write
 * succeeds; beyond MAX_ROWS new rows are dropped and counted, loudly. `stop()` (SIGTERM) prices
 * and writes everything left, retrying for a few seconds. A crash of the whole process loses what
 * had not been written: at most one flush interval in normal operation.
 */
import { describeError, ops } from '../log.js'
import type { Sql } from '../store/db.js'
import { recordSpend } from '../telemetry/metrics.js'
import type { PricingSettings } from './pricing.js'
import type { LeaseDelta, LedgerTotals, Seen } from './charges.js'
import { recordIdentities, writeLedger } from './ledger.js'
import { flushMs } from './outbox.js'
import type { UsageBatch } from './records.js'
import { aggregate, type Aggregate, type AggregateTask, type Rows } from './task.js'
import { UsageSums } from './usage.js'

/** Most distinct ledger rows kept while the database is unreachable. */
export const MAX_ROWS = 250_000

type Sums = Map<string, { a: string, b: string, m: number }>

function addRows (into: Sums, rows: Rows): number {
  let dropped = 0
  for (let i = 0; i < rows.keys.length; i++) {
    const a = rows.keys[i] as string
    const b = rows.buckets[i] as string
    const k = `${a}\u0000${b}`
    const e = into.get(k)
    if (e !== undefined) e.m += rows.micro[i] as number
    else if (into.size < MAX_ROWS) into.set(k, { a, b, m: rows.micro[i] as number })
    else dropped++
  }
  return dropped
}

const toRows = (s: Sums): Rows => {
  const r: Rows = { keys: [], buckets: [], micro: [] }
  for (const e of s.values()) { r.keys.push(e.a); r.buckets.push(e.b); r.micro.push(e.m) }
  return r
}

export interface MeterOptions {
  /** Run an aggregation task on the pool; rejects (e.g. PoolFull) to fall back to inline work. */
  readonly runTask?: (task: AggregateTask) => Promise<Aggregate>
  readonly flushMs?: number
  /**
   * Told the new totals of the principal and pooled buckets each successful flush wrote (spend
   * alerts), after the flush's identities were recorded (so their groups can be read back).
   */
  readonly onTotals?: (totals: LedgerTotals) => void
}

export class Meter {
  private queue: UsageBatch[] = []
  /** Batches that arrived before a pricing change, with the pricing they are due. */
  private earlier: Array<{ pricing: PricingSettings | undefined, batches: UsageBatch[] }> = []
  private spend: Sums = new Map()
  private pooled: Sums = new Map()
  private models: Sums = new Map()
  private usage = new UsageSums()
  private charges = new Map<string, LeaseDelta>()
  private identities = new Map<string, Seen>()
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private failures = 0
  private retryAt = 0
  private lastWarn = 0
  private dropped = 0
  /** Records and micro-cents written so far (for tests and logs). */
  written = { records: 0, micro: 0 }
  private pendingRecords = 0
  private pendingMicro = 0

  constructor (private readonly sql: Sql, private pricing: PricingSettings | undefined, private readonly opts: MeterOptions = {}) {}

  /**
   * A config reload changed pricing: batches that arrive from now on are priced with `p`; those
   * already queued keep the pricing in force when they arrived.
   */
  setPricing (p: PricingSettings | undefined): void {
    if (this.queue.length > 0) this.earlier.push({ pricing: this.pricing, batches: this.queue })
    this.queue = []
    this.pricing = p
  }

  start (): this {
    this.timer = setInterval(() => { void this.tick() }, this.opts.flushMs ?? flushMs())
    this.timer.unref()
    return this
  }

  add (batch: UsageBatch): void { this.queue.push(batch) }

  identity (seen: Seen): void {
    if (this.identities.size < 10_000 || this.identities.has(seen.sub)) this.identities.set(seen.sub, seen)
  }

  /** Rows waiting for a successful write. */
  get backlog (): number { return this.spend.size + this.pooled.size + this.models.size + this.usage.size + this.charges.size }

  /** One flush (joins the one in progress). */
  async tick (): Promise<void> {
    if (this.running !== null) return await this.running
    this.running = this.flushOnce().finally(() => { this.running = null })
    await this.running
  }

  private async price (batches: UsageBatch[], pricing: PricingSettings | undefined): Promise<Aggregate> {
    const task: AggregateTask = { batches, pricing }
    if (this.opts.runTask !== undefined) {
      try { return await this.opts.runTask(task) } catch (err) { ops.debug(`metering pool unavailable, pricing inline: ${describeError(err)}`) }
    }
    return aggregate(task)
  }

  private async flushOnce (): Promise<void> {
    const due = [...this.earlier.splice(0), ...(this.queue.length > 0 ? [{ pricing: this.pricing, batches: this.queue }] : [])]
    this.queue = []
    for (const { pricing, batches } of due) {
      const agg = await this.price(batches, pricing)
      this.dropped += addRows(this.spend, agg.spend) + addRows(this.pooled, agg.pooled) + addRows(this.models, agg.models) +
        this.usage.merge(agg.usage, MAX_ROWS)
      for (const b of batches) {
        for (const [kind, subject, bucket, epoch, micro] of b.charges) {
          const k = `${kind}\u0000${subject}\u0000${bucket}\u0000${b.holder}\u0000${epoch}`
          const c = this.charges.get(k)
          if (c !== undefined) c[5] += micro
          else this.charges.set(k, [kind, subject, bucket, b.holder, epoch, micro])
        }
      }
      this.pendingRecords += agg.records
      this.pendingMicro += agg.total
      recordSpend(agg.total / 1e6)
    }
    if (this.backlog === 0 && this.identities.size === 0) return
    if (Date.now() < this.retryAt) return
    const spend = this.spend
    const pooled = this.pooled
    const models = this.models
    const usage = this.usage
    const charges = this.charges
    const ids = this.identities
    const records = this.pendingRecords
    const micro = this.pendingMicro
    this.spend = new Map()
    this.pooled = new Map()
    this.models = new Map()
    this.usage = new UsageSums()
    this.charges = new Map()
    this.identities = new Map()
    this.pendingRecords = 0
    this.pendingMicro = 0
    try {
      const totals = await writeLedger(this.sql, toRows(spend), toRows(pooled), [...charges.values()], toRows(models), usage.rows())
      // The ledger is committed: from here on a failure may put back identities, never spend.
      if (ids.size > 0) {
        try { await recordIdentities(this.sql, [...ids.values()]) } catch (err) {
          for (const [k, v] of ids) if (!this.identities.has(k)) this.identities.set(k, v)
          ops.warn(`recording who spent failed: ${describeError(err)}; retried with the next flush`)
        }
      }
      if (totals.spend.length + totals.pooled.length > 0) this.opts.onTotals?.(totals)
      this.written.records += records
      this.written.micro += micro
      if (this.failures > 0) ops.info(`spend records written again after ${this.failures} failed attempt(s)`)
      this.failures = 0
      if (this.dropped > 0) { ops.error(`spend meter dropped ${this.dropped} ledger row(s) while Postgres was unreachable (more than ${MAX_ROWS} waiting)`); this.dropped = 0 }
    } catch (err) {
      // Put everything back (summed with what arrived meanwhile) and retry with backoff.
      this.dropped += addRows(this.spend, toRows(spend)) + addRows(this.pooled, toRows(pooled)) + addRows(this.models, toRows(models)) +
        this.usage.merge(usage.rows(), MAX_ROWS)
      for (const [k, c] of charges) { const x = this.charges.get(k); if (x !== undefined) x[5] += c[5]; else this.charges.set(k, c) }
      for (const [k, v] of ids) if (!this.identities.has(k)) this.identities.set(k, v)
      this.pendingRecords += records
      this.pendingMicro += micro
      this.failures++
      this.retryAt = Date.now() + Math.min(5000, 50 * 2 ** Math.min(this.failures, 7))
      const now = Date.now()
      if (now - this.lastWarn >= 10_000) {
        this.lastWarn = now
        ops.warn(`spend record failed: ${describeError(err)}; ${this.backlog} ledger row(s) kept in memory and retried`)
      }
    }
  }

  /** Stop flushing on a timer and write everything left (retrying for up to `graceMs`). */
  async stop (graceMs = 5000): Promise<void> {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null }
    const until = Date.now() + graceMs
    for (;;) {
      this.retryAt = 0
      await this.tick()
      if (this.queue.length === 0 && this.backlog === 0 && this.identities.size === 0) return
      if (Date.now() >= until) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    ops.error(`spend meter stopped with ${this.backlog} ledger row(s) not written: Postgres did not accept them`)
  }
}
