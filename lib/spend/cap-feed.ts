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
import { TableFollower } from '../store/follow.js'
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
  private readonly follower: TableFollower

  constructor (private readonly sql: Sql) {
    this.follower = new TableFollower(sql, { channel: CAPS_CHANNEL, everyMs: REREAD_MS, what: 'spend caps', load: async () => { await this.loadOnce() } })
  }

  get book (): CapBook { return this.current }
  message (): CapsMessage { return { version: this.version, rows: this.rows } }

  /** Load the table (joining a load in progress, and running one more after it). */
  async reload (): Promise<void> { await this.follower.refresh() }

  private async loadOnce (): Promise<void> {
    const rows = await loadCaps(this.sql)
    const json = JSON.stringify(rows)
    // The fallback re-read usually finds nothing new: push only real changes, so workers keep
    // their resolved caps.
    if (json === this.json) return
    this.json = json
    this.rows = rows
    this.version++
    this.current = new CapBook(this.rows, this.version)
    broadcast(CAPS_EVENT, this.message())
  }

  /** First load (failing start if it fails), then LISTEN, the fallback timer and worker joins. */
  async start (): Promise<void> {
    await this.follower.start()
    onWorkerJoin((send) => { send(CAPS_EVENT, this.message()) })
  }

  async stop (): Promise<void> { await this.follower.stop() }
}
