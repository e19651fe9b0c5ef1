/**
 * Spend alerts before the wall: after each ledger write, the new bucket totals are compared with
 * the caps, and a threshold (admin.alerts.thresholds, default 75% and 95%) that a total reached
 * becomes an alert.
 *
 * Invariants:
 *   - An alert happens once per (subject, period bucket, threshold), across every replica and
 *     every concurrent flush: it is the insert into `spend_alerts` (primary key on those columns)
 *     that decides, and only the transaction whose insert wins queues the webhook deliveries (one
 *     `alert_deliveries` row per configured webhook, in that same transaction), then writes the
 *     `spend.threshold` audit event and counts the metric, after the commit.
 *   - Caps are the ones spend control enforces: the same CapBook and precedence rules
 *     (caps.ts `resolve`), never a second copy of them. A principal is measured against the cap of
 *     its own seat (user, group or organization row) for the bucket's period; a pooled group
 *     budget is measured once for the whole group (kind 'g'), never once per member.
 *   - Who an alert is for: a principal's own user or group cap → `principal`; an organization
 *     cap or a pooled budget → `administrators`. Every alert goes to the webhooks (administrators);
 *     the audience field lets a receiver route them.
 *   - Money is integers: totals are micro-cents, caps whole cents; the comparison is exact
 *     (spent × 10,000 ≥ cap × 1,000,000 × basis points, in BigInt).
 *   - A crossing is "total at or above the threshold", so a flush that jumps past 75% and 95% at
 *     once raises both, and a replica that missed the moment still raises it on its next write.
 *     Raising a cap later in the period does not re-arm an alert already sent for that bucket.
 *   - Checks run one at a time, in the background of the meter (`onTotals` must not block it);
 *     totals that arrive meanwhile are merged (latest wins per bucket) and checked next. A check
 *     that fails (database trouble) is tried again a few seconds later, so a crossing is not
 *     forgotten when its bucket sees no further spend.
 */
import { BoundedCache } from '../cache.js'
import { audit, describeError, ops } from '../log.js'
import type { Sql } from '../store/db.js'
import { recordThreshold } from '../telemetry/metrics.js'
import type { CapBook, PoolRules, ScopeType } from './caps.js'
import type { Period } from '../metering/periods.js'
import type { LedgerTotal, LedgerTotals } from '../metering/charges.js'

/** `admin.alerts` as the alerts need it. */
export interface AlertSettings {
  readonly thresholds: readonly number[]
  readonly webhooks: ReadonlyArray<{ readonly name?: string | undefined, readonly url: string }>
}

/** The generic (json) body of one alert, also the payload kept in the delivery outbox. */
export interface AlertPayload {
  type: 'spend.threshold'
  kind: 'principal' | 'pool'
  /** The principal's subject, or the pooled group's name. */
  subject: string
  email?: string
  period: Period
  bucket: string
  threshold: number
  cap_id: string
  cap_scope: ScopeType | 'pool'
  cap_cents: number
  spent_micro_cents: number
  audience: 'principal' | 'administrators'
  at: string
}

/** The period a bucket key belongs to ('2026-08' monthly, '2026-W31' weekly, '2026-08-03' daily). */
export function periodOfBucket (bucket: string): Period | null {
  if (/^\d{4}-\d{2}$/.test(bucket)) return 'monthly'
  if (/^\d{4}-W\d{2}$/.test(bucket)) return 'weekly'
  if (/^\d{4}-\d{2}-\d{2}$/.test(bucket)) return 'daily'
  return null
}

/** Basis points of a threshold fraction (0.75 → 7500). */
export const basisPoints = (t: number): number => Math.round(t * 10_000)

/** True when `micro` micro-cents reached `bp` basis points of `capCents` cents. */
export function reached (micro: bigint, capCents: bigint, bp: number): boolean {
  return micro * 10_000n >= capCents * 1_000_000n * BigInt(bp)
}

interface Candidate { kind: 'u' | 'g', payload: AlertPayload, bp: number }

/** Wait before checking totals again after a failed check. */
const RETRY_MS = 5000

const webhookKey = (w: { name?: string | undefined, url: string }): string => w.name ?? w.url

export class SpendAlerts {
  private pending = new Map<string, { kind: 'u' | 'g', total: LedgerTotal }>()
  /** Totals whose check failed (database trouble), checked again after RETRY_MS. */
  private readonly retry = new Map<string, { kind: 'u' | 'g', total: LedgerTotal }>()
  private retryTimer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  /**
   * Alerts already known to exist (this process inserted or lost the insert): skipped quietly.
   * Bounded; a forgotten one is only checked again (its insert conflicts and does nothing).
   */
  private readonly known = new BoundedCache<string, true>(100_000)
  private readonly bps: number[]

  constructor (
    private readonly sql: Sql,
    private readonly book: () => CapBook,
    private readonly rules: PoolRules,
    private readonly settings: AlertSettings,
  ) {
    this.bps = [...new Set(settings.thresholds.map(basisPoints))].sort((a, b) => a - b)
  }

  /** Meter hook: queue the totals of one flush and check them in the background. */
  readonly onTotals = (t: LedgerTotals): void => {
    for (const x of t.spend) this.pending.set(`u\u0000${x.subject}\u0000${x.period}`, { kind: 'u', total: x })
    for (const x of t.pooled) this.pending.set(`g\u0000${x.subject}\u0000${x.period}`, { kind: 'g', total: x })
    if (this.running === null) this.running = this.drain().finally(() => { this.running = null })
  }

  /** Wait for the checks queued so far (tests, shutdown). */
  async settle (): Promise<void> {
    while (this.running !== null) await this.running
  }

  private async drain (): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending.values()]
      this.pending.clear()
      try {
        await this.check(batch)
      } catch (err) {
        ops.warn(`spend alert check failed (retried in ${RETRY_MS / 1000} s, or at the next write of these buckets): ${describeError(err)}`)
        for (const b of batch) {
          const k = `${b.kind}\u0000${b.total.subject}\u0000${b.total.period}`
          if (!this.pending.has(k)) this.retry.set(k, b)
        }
        if (this.retryTimer === null) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null
            for (const [k, b] of this.retry) if (!this.pending.has(k)) this.pending.set(k, b)
            this.retry.clear()
            if (this.running === null && this.pending.size > 0) this.running = this.drain().finally(() => { this.running = null })
          }, RETRY_MS)
          this.retryTimer.unref()
        }
        return
      }
    }
  }

  /** Stop retrying failed checks (shutdown). */
  stop (): void {
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null }
  }

  /** Compare totals with the caps; raise every threshold reached and not yet raised. */
  async check (batch: ReadonlyArray<{ kind: 'u' | 'g', total: LedgerTotal }>): Promise<number> {
    const book = this.book()
    if (book.empty || this.bps.length === 0) return 0
    const people = [...new Set(batch.filter((b) => b.kind === 'u').map((b) => b.total.subject))]
    const seen = people.length === 0
      ? []
      : await this.sql<Array<{ principal: string, email: string | null, groups: unknown }>>`
          select principal, email, groups from principal_emails where principal = any(${people}::text[])`
    const who = new Map(seen.map((r) => [r.principal, r]))
    const at = new Date().toISOString()
    const found: Candidate[] = []
    for (const { kind, total } of batch) {
      const period = periodOfBucket(total.period)
      if (period === null) continue
      let cap: { id: string, scope: ScopeType | 'pool', cents: string } | undefined
      let email: string | undefined
      if (kind === 'u') {
        const row = who.get(total.subject)
        const groups = Array.isArray(row?.groups) ? row.groups.filter((g): g is string => typeof g === 'string') : []
        const c = book.resolve(total.subject, groups, this.rules).caps.find((x) => x.period === period)
        if (c !== undefined) cap = { id: c.limitId, scope: c.scope, cents: c.amount }
        email = row?.email ?? undefined
      } else if (period === 'monthly') {
        const p = book.resolve('', [total.subject], this.rules).pools.find((x) => x.group === total.subject)
        if (p !== undefined) cap = { id: p.limitId, scope: 'pool', cents: p.amount }
      }
      if (cap === undefined || BigInt(cap.cents) <= 0n) continue
      const micro = BigInt(total.micro)
      for (const bp of this.bps) {
        if (!reached(micro, BigInt(cap.cents), bp)) break
        if (this.known.has(`${kind}\u0000${total.subject}\u0000${total.period}\u0000${bp}`)) continue
        found.push({
          kind,
          bp,
          payload: {
            type: 'spend.threshold',
            kind: kind === 'u' ? 'principal' : 'pool',
            subject: total.subject,
            ...(email !== undefined ? { email } : {}),
            period,
            bucket: total.period,
            threshold: bp / 10_000,
            cap_id: cap.id,
            cap_scope: cap.scope,
            cap_cents: Number(cap.cents),
            spent_micro_cents: Number(micro),
            audience: cap.scope === 'user' || cap.scope === 'rbac_group' ? 'principal' : 'administrators',
            at,
          },
        })
      }
    }
    let raised = 0
    for (const c of found) if (await this.raise(c)) raised++
    return raised
  }

  /** Insert one alert; the winner queues its deliveries in the same transaction, then audits. */
  private async raise (c: Candidate): Promise<boolean> {
    const p = c.payload
    const hooks = this.settings.webhooks.map(webhookKey)
    const won = await this.sql.begin(async (tx) => {
      const rows = await tx`
        insert into spend_alerts (kind, subject, period, threshold_bp, cap_id, cap_scope, cap_cents, spent_micro_cents)
        values (${c.kind}, ${p.subject}, ${p.bucket}, ${c.bp}, ${p.cap_id}, ${p.cap_scope}, ${p.cap_cents}, ${p.spent_micro_cents})
        on conflict do nothing
        returning 1`
      if (rows.length === 0) return false
      if (hooks.length > 0) {
        await tx`
          insert into alert_deliveries (webhook, payload)
          select w, (${JSON.stringify(p)}::text)::jsonb from unnest(${hooks}::text[]) as t(w)`
      }
      return true
    })
    this.known.set(`${c.kind}\u0000${p.subject}\u0000${p.bucket}\u0000${c.bp}`, true)
    if (!won) return false
    audit('spend.threshold', {
      kind: p.kind, subject: p.subject, email: p.email, period: p.period, bucket: p.bucket, threshold: p.threshold,
      cap_id: p.cap_id, cap_scope: p.cap_scope, cap_cents: p.cap_cents, spent_micro_cents: p.spent_micro_cents,
      audience: p.audience, webhooks: hooks.length,
    })
    recordThreshold(p.period, p.threshold)
    return true
  }
}
