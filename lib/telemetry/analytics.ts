/**
 * Claude Code analytics, primary side: the metrics bodies signed-in clients send to `/v1/metrics`
 * are read in the primary's Piscina pool (`cc-metrics.ts`, inline when the pool's queue is full)
 * and summed per UTC day, developer (the verified bearer's subject, never a client-sent
 * attribute), metric and split attributes into `claude_code_daily` (migration 0017), for
 * `GET /v1/organizations/usage_report/claude_code`. This runs whenever `admin:` is configured,
 * whether or not any collector is, and never waits on one.
 *
 * Invariants: memory is bounded — at most MAX_PENDING bodies being read, MAX_ROWS summed rows
 * waiting to be written (further new rows are dropped and counted, loudly) and MAX_SERIES
 * cumulative series remembered; rows are written every FLUSH_MS in one statement and, when
 * Postgres is down, kept (summed) and retried with backoff, so an outage loses nothing within the
 * bounds; `stop()` writes what is left. Delta points are added as they are; a cumulative series
 * adds its increase since the last value seen for it (its first value in full, and a value below
 * the last one — a restarted series — in full). The organization's day sums and active developers
 * (`claude_code_org_days`, `claude_code_day_principals`, migration 0024) are kept by triggers inside
 * this upsert, from the increases it writes, so they commit with it or not at all.
 */
import { BoundedCache } from '../cache.js'
import { describeError, ops } from '../log.js'
import type { Sql } from '../store/db.js'
import { PoolFull, type PoolLease } from '../workers-pool.js'
import { type CodePoint, type ExtractInput, extractCodePoints } from './cc-metrics.js'
import { STAMP_TASK_FILE } from './otlp-task.js'

export const FLUSH_MS = 1000
export const MAX_PENDING = 64
export const MAX_ROWS = 100_000
export const MAX_SERIES = 200_000

/** What the aggregator needs of one telemetry request. */
export interface MetricsBody {
  readonly sub: string
  readonly contentType: string
  readonly encoding: string
  readonly body: ArrayBuffer
}

interface Row { day: string, sub: string, metric: string, k1: string, k2: string, value: number }

export class CodeAnalytics {
  private rows = new Map<string, Row>()
  /** Last value per cumulative series; beyond MAX_SERIES the least recently seen is forgotten (its next value counts in full). */
  private readonly last = new BoundedCache<string, number>(MAX_SERIES)
  private pending = 0
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private failures = 0
  private retryAt = 0
  private lastWarn = 0
  /** Bodies or rows dropped (over a bound, or unreadable), for tests and logs. */
  dropped = 0
  /** Bodies read so far. */
  accepted = 0

  constructor (private readonly sql: Sql, private readonly pool: PoolLease | null, private maxBytes: number, private readonly flushMs = FLUSH_MS) {}

  /** The decode bound after a reload changed limits.max_request_bytes (later bodies). */
  setMaxBytes (n: number): void { this.maxBytes = n }

  start (): this {
    this.timer = setInterval(() => { void this.flush() }, this.flushMs)
    this.timer.unref()
    return this
  }

  /** Take one metrics body (the caller keeps no reference to `m.body`). */
  accept (m: MetricsBody): void {
    const ct = (m.contentType.split(';')[0] ?? '').trim().toLowerCase()
    const json = ct === 'application/json'
    const enc = m.encoding.trim().toLowerCase()
    if ((!json && ct !== '' && ct !== 'application/x-protobuf' && ct !== 'application/protobuf') || (enc !== '' && enc !== 'identity' && enc !== 'gzip') || this.pending >= MAX_PENDING) {
      this.drop('a metrics body (unsupported format, or too many waiting)')
      return
    }
    const task: ExtractInput = { body: m.body, json, gzip: enc === 'gzip', maxBytes: this.maxBytes, now: Date.now() }
    this.pending++
    const run = this.pool === null
      ? Promise.reject(new PoolFull())
      : this.pool.run<CodePoint[]>(STAMP_TASK_FILE, 'extract', task)
    run.catch((err: unknown) => {
      if (err instanceof PoolFull) return extractCodePoints(task)
      throw err
    }).then((points) => { this.accepted++; this.add(m.sub, points) }, (err: unknown) => {
      this.drop(`an unreadable metrics body (${describeError(err)})`)
    }).finally(() => { this.pending-- })
  }

  /** Add the points of one body sent by `sub`. */
  add (sub: string, points: readonly CodePoint[]): void {
    for (const p of points) {
      let v = p.value
      if (p.cumulative) {
        const key = `${sub}\u0000${p.series}`
        const before = this.last.get(key)
        this.last.set(key, p.value)
        if (before !== undefined && p.value >= before) v = p.value - before
      }
      if (v === 0) continue
      const k = `${p.day}\u0000${sub}\u0000${p.metric}\u0000${p.k1}\u0000${p.k2}`
      const r = this.rows.get(k)
      if (r !== undefined) r.value += v
      else if (this.rows.size < MAX_ROWS) this.rows.set(k, { day: p.day, sub, metric: p.metric, k1: p.k1, k2: p.k2, value: v })
      else this.drop('a Claude Code analytics row (too many waiting to be written)')
    }
  }

  private drop (what: string): void {
    this.dropped++
    const now = Date.now()
    if (now - this.lastWarn >= 10_000) { this.lastWarn = now; ops.warn(`claude code analytics dropped ${what}; ${this.dropped} dropped so far`) }
  }

  /** Rows waiting to be written. */
  get backlog (): number { return this.rows.size }

  /** Write what is waiting (joins a write in progress). */
  async flush (): Promise<void> {
    if (this.running !== null) return await this.running
    this.running = this.write().finally(() => { this.running = null })
    await this.running
  }

  private async write (): Promise<void> {
    if (this.rows.size === 0 || Date.now() < this.retryAt) return
    const rows = [...this.rows.values()].sort((a, b) => (a.day + a.sub < b.day + b.sub ? -1 : 1))
    this.rows = new Map()
    try {
      await this.sql`
        insert into claude_code_daily (day, principal, metric, k1, k2, value, updated_at)
        select t.d::date, t.p, t.m, t.a, t.b, t.v::numeric, now()
        from unnest(${rows.map((r) => r.day)}::text[], ${rows.map((r) => r.sub)}::text[], ${rows.map((r) => r.metric)}::text[],
          ${rows.map((r) => r.k1)}::text[], ${rows.map((r) => r.k2)}::text[], ${rows.map((r) => String(r.value))}::text[]) as t(d, p, m, a, b, v)
        order by 1, 2, 3, 4, 5
        on conflict (day, principal, metric, k1, k2) do update set value = claude_code_daily.value + excluded.value, updated_at = now()`
      if (this.failures > 0) ops.info(`claude code analytics written again after ${this.failures} failed attempt(s)`)
      this.failures = 0
    } catch (err) {
      for (const r of rows) {
        const k = `${r.day}\u0000${r.sub}\u0000${r.metric}\u0000${r.k1}\u0000${r.k2}`
        const x = this.rows.get(k)
        if (x !== undefined) x.value += r.value
        else if (this.rows.size < MAX_ROWS) this.rows.set(k, r)
        else this.dropped++
      }
      this.failures++
      this.retryAt = Date.now() + Math.min(5000, 50 * 2 ** Math.min(this.failures, 7))
      const now = Date.now()
      if (now - this.lastWarn >= 10_000) { this.lastWarn = now; ops.warn(`claude code analytics write failed: ${describeError(err)}; ${this.rows.size} row(s) kept and retried`) }
    }
  }

  /** Stop the timer and write what is left (retrying for up to `graceMs`). */
  async stop (graceMs = 3000): Promise<void> {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null }
    const until = Date.now() + graceMs
    while (Date.now() < until) {
      if (this.pending === 0 && this.rows.size === 0) return
      this.retryAt = 0
      await this.flush()
      if (this.pending === 0 && this.rows.size === 0) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (this.rows.size > 0) ops.error(`claude code analytics stopped with ${this.rows.size} row(s) not written`)
  }
}
