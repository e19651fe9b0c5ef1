/**
 * Keeps every worker's copy of the cap table in step with `spend_limits`.
 *
 * The primary loads the table at start and again whenever Postgres notifies `weir_spend_limits`
 * (the trigger of migration 0013 fires on any change, from any replica or from SQL), when the
 * LISTEN connection (re)connects, and every 30 s as a fallback. Each load is pushed to the workers
 * (`broadcast`) with a version number that only grows, and sent to a worker when it joins. Loads
 * that overlap are coalesced into one more.
 */
import { broadcast, onWorkerJoin } from '../ipc.js'
import { describeError, ops } from '../log.js'
import type { Sql } from '../store/db.js'
import { CapBook, type CapRow } from './caps.js'
import { CAPS_EVENT, type CapsMessage } from './link.js'
import { loadCaps } from './store.js'

export const CAPS_CHANNEL = 'weir_spend_limits'
const REREAD_MS = 30_000

export class CapFeed {
  private rows: CapRow[] = []
  private json = ''
  private version = 0
  private current = new CapBook([], 0)
  private running: Promise<void> | null = null
  private again = false
  private timer: NodeJS.Timeout | null = null
  private listener: { unlisten: () => Promise<void> } | null = null

  constructor (private readonly sql: Sql) {}

  get book (): CapBook { return this.current }
  message (): CapsMessage { return { version: this.version, rows: this.rows } }

  /** Load the table (joining a load in progress, and running one more after it). */
  async reload (): Promise<void> {
    if (this.running !== null) { this.again = true; return await this.running }
    this.running = (async () => {
      try {
        do {
          this.again = false
          const rows = await loadCaps(this.sql)
          const json = JSON.stringify(rows)
          // The fallback re-read usually finds nothing new: push only real changes, so workers
          // keep their resolved caps.
          if (json === this.json) continue
          this.json = json
          this.rows = rows
          this.version++
          this.current = new CapBook(this.rows, this.version)
          broadcast(CAPS_EVENT, this.message())
        } while (this.again)
      } finally {
        this.running = null
      }
    })()
    await this.running
  }

  private reloadQuietly (): void {
    this.reload().catch((err: unknown) => { ops.warn(`spend caps reload failed (retrying within ${REREAD_MS / 1000}s): ${describeError(err)}`) })
  }

  /** First load (failing start if it fails), then LISTEN, the fallback timer and worker joins. */
  async start (): Promise<void> {
    await this.reload()
    onWorkerJoin((send) => { send(CAPS_EVENT, this.message()) })
    try {
      this.listener = await this.sql.listen(CAPS_CHANNEL, () => { this.reloadQuietly() }, () => { this.reloadQuietly() })
    } catch (err) {
      ops.warn(`cannot LISTEN for spend cap changes (${describeError(err)}); changes made elsewhere arrive within ${REREAD_MS / 1000}s instead`)
    }
    this.timer = setInterval(() => { this.reloadQuietly() }, REREAD_MS)
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
