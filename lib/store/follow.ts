/**
 * Keeping an in-memory copy of a table fresh in every replica: load it now, again on every
 * NOTIFY on `channel` (and whenever the listening connection reconnects, since notifications may
 * have been missed while it was down), and every `everyMs` as a fallback in case notifications
 * are lost altogether. Overlapping triggers coalesce: at most one load runs at a time, and one
 * more follows it if anything asked in the meantime.
 */
import type { Sql } from 'postgres'
import { describeError, ops } from '../log.js'

export interface FollowOptions {
  readonly channel: string
  /** Fallback re-read interval, ms. */
  readonly everyMs: number
  /** What is followed, for log lines ("spend caps"). */
  readonly what: string
  /** Read the table and apply it. May throw; triggers other than `start` log the failure. */
  readonly load: () => Promise<void>
  /** Also run on every fallback tick (e.g. pruning). */
  readonly onTick?: () => void
}

export class TableFollower {
  private running: Promise<void> | null = null
  private again = false
  private timer: NodeJS.Timeout | null = null
  private listener: { unlisten: () => Promise<void> } | null = null

  constructor (private readonly sql: Sql, private readonly o: FollowOptions) {}

  /** Load now, joining a load in progress (and running one more after it). */
  async refresh (): Promise<void> {
    if (this.running !== null) { this.again = true; return await this.running }
    this.running = (async () => {
      try {
        do {
          this.again = false
          await this.o.load()
        } while (this.again)
      } finally {
        this.running = null
      }
    })()
    await this.running
  }

  private quietly (): void {
    this.refresh().catch((err: unknown) => { ops.warn(`${this.o.what}: reload failed (retrying within ${this.o.everyMs / 1000}s): ${describeError(err)}`) })
  }

  /** First load (its failure fails `start`), then LISTEN and the fallback timer. */
  async start (): Promise<void> {
    await this.refresh()
    try {
      this.listener = await this.sql.listen(this.o.channel, () => { this.quietly() }, () => { this.quietly() })
    } catch (err) {
      ops.warn(`cannot LISTEN for ${this.o.what} (${describeError(err)}); changes made elsewhere arrive within ${this.o.everyMs / 1000}s instead`)
    }
    this.timer = setInterval(() => { this.quietly(); this.o.onTick?.() }, this.o.everyMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.listener?.unlisten().catch(() => undefined)
    this.listener = null
    await this.running?.catch(() => undefined)
  }
}
