/**
 * The delivery loop of spend alert webhooks, run by the primary of every replica.
 *
 * Invariants:
 *   - Deliveries live in `alert_deliveries` (migration 0015), written with the alert itself, so an
 *     alert is never lost to a receiver that is down or a replica that stops.
 *   - A due row is claimed in one statement that counts the attempt and pushes `next_at` past the
 *     request timeout (`for update skip locked`): two replicas never send the same attempt, and a
 *     replica that dies mid-send leaves a row that is simply due again later.
 *   - Every outcome is written only if the row is still at the attempt this loop claimed.
 *   - A 2xx answer marks it delivered. Anything else (refused connection, timeout, 3xx, 4xx, 5xx)
 *     retries with exponential backoff (base × 2^(attempt−1), jittered, at most MAX_BACKOFF_MS);
 *     after `max_attempts` the row is 'dead' and `last_error` holds the dead-letter record (JSON:
 *     webhook, attempts, last error, when).
 *   - A replica claims only rows for webhooks in its own config, so during a rolling config change
 *     a replica that does not know a webhook never spends that webhook's attempts; rows of a
 *     webhook removed everywhere stay pending until the retention sweep.
 *   - Requests go through the SSRF-guarded undici agent (lib/net/ssrf.ts), never follow
 *     redirects, and carry only the webhook's configured headers besides content-type.
 */
import type { Dispatcher } from 'undici'
import { describeError, ops } from '../log.js'
import { guardedAgent, guardedFetch } from '../net/ssrf.js'
import type { Sql } from '../store/db.js'
import type { AlertPayload } from './alerts.js'
import { webhookBody, type WebhookFormat } from './alert-format.js'

export interface WebhookSettings {
  readonly name?: string | undefined
  readonly url: string
  readonly format: WebhookFormat
  readonly headers: Readonly<Record<string, string>>
}

export interface DeliveryOptions {
  readonly webhooks: readonly WebhookSettings[]
  readonly maxAttempts: number
  /** Poll interval, ms (default 2 s). */
  readonly everyMs?: number
  /** First retry delay, ms (default 5 s). */
  readonly backoffMs?: number
  /** One request's time limit, ms (default 10 s). */
  readonly timeoutMs?: number
  /** Let webhooks on loopback through the SSRF guard (default: CLAUDE_GATEWAY_ALLOW_LOOPBACK). */
  readonly allowLoopback?: boolean
}

/** Longest wait between two attempts. */
export const MAX_BACKOFF_MS = 3_600_000
/** Rows claimed per poll. */
const BATCH = 20

interface Claimed { id: string, webhook: string, payload: AlertPayload, attempts: number }

export class AlertDelivery {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<number> | null = null
  private readonly byKey = new Map<string, WebhookSettings>()
  private readonly dispatcher: Dispatcher & { close(): Promise<void> }

  constructor (private readonly sql: Sql, private readonly opts: DeliveryOptions) {
    for (const w of opts.webhooks) this.byKey.set(w.name ?? w.url, w)
    this.dispatcher = guardedAgent(opts.allowLoopback !== undefined ? { allowLoopback: opts.allowLoopback } : {})
  }

  /** Poll on a timer (not at all without webhooks). */
  start (): this {
    if (this.byKey.size === 0) return this
    this.timer = setInterval(() => { void this.tick() }, this.opts.everyMs ?? 2000)
    this.timer.unref()
    return this
  }

  /** One poll (joins the one in progress); resolves to the number of rows it handled. */
  async tick (): Promise<number> {
    if (this.running !== null) return await this.running
    this.running = this.pollOnce()
      .catch((err: unknown) => { ops.warn(`spend alert delivery poll failed: ${describeError(err)}`); return 0 })
      .finally(() => { this.running = null })
    return await this.running
  }

  private async pollOnce (): Promise<number> {
    if (this.byKey.size === 0) return 0
    const leaseSec = Math.ceil((this.opts.timeoutMs ?? 10_000) / 1000) + 30
    const rows = await this.sql<Claimed[]>`
      update alert_deliveries d set attempts = d.attempts + 1, next_at = now() + make_interval(secs => ${leaseSec})
      where d.id in (
        select id from alert_deliveries where state = 'pending' and next_at <= now() and webhook = any(${[...this.byKey.keys()]}::text[])
        order by next_at, id limit ${BATCH} for update skip locked)
      returning d.id::text as id, d.webhook, d.payload, d.attempts`
    await Promise.all(rows.map(async (r) => { await this.deliver(r) }))
    return rows.length
  }

  private async deliver (r: Claimed): Promise<void> {
    const hook = this.byKey.get(r.webhook) as WebhookSettings
    let error: string
    try {
      const res = await guardedFetch(hook.url, {
        method: 'POST',
        headers: { ...hook.headers, 'content-type': 'application/json' },
        body: webhookBody(hook.format, r.payload),
        dispatcher: this.dispatcher,
        timeoutMs: this.opts.timeoutMs ?? 10_000,
      })
      await res.body?.cancel().catch(() => undefined) // the answer is not read: only its status counts
      if (res.status >= 200 && res.status < 300) {
        await this.sql`
          update alert_deliveries set state = 'delivered', done_at = now(), last_error = null
          where id = ${r.id} and attempts = ${r.attempts} and state = 'pending'`
        return
      }
      error = `HTTP ${res.status}`
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause
      error = describeError(err) + (cause !== undefined ? `: ${describeError(cause)}` : '')
    }
    if (r.attempts >= this.opts.maxAttempts) {
      await this.dead(r, error)
      return
    }
    const base = this.opts.backoffMs ?? 5000
    const wait = Math.min(MAX_BACKOFF_MS, base * 2 ** (r.attempts - 1)) * (0.8 + Math.random() * 0.4)
    await this.sql`
      update alert_deliveries set next_at = now() + make_interval(secs => ${wait / 1000}), last_error = ${error}
      where id = ${r.id} and attempts = ${r.attempts} and state = 'pending'`
  }

  private async dead (r: Claimed, error: string): Promise<void> {
    const record = JSON.stringify({ webhook: r.webhook, attempts: r.attempts, error, at: new Date().toISOString() })
    await this.sql`
      update alert_deliveries set state = 'dead', done_at = now(), last_error = ${record}
      where id = ${r.id} and attempts = ${r.attempts} and state = 'pending'`
    ops.error(`spend alert to webhook ${r.webhook} given up after ${r.attempts} attempt(s): ${error} (kept as dead in alert_deliveries, id ${r.id})`)
  }

  async stop (): Promise<void> {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null }
    if (this.running !== null) await this.running
    await this.dispatcher.close()
  }
}
