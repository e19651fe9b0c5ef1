/**
 * Worker side of metering: collects usage records and lease charges and posts them to the
 * primary in batches — every flush interval (100 ms) while there is something to send, or at once when a
 * batch reaches FLUSH_COUNT records — as one message whose row buffer is transferred, not copied.
 *
 * When the thread exits (drain at SIGTERM, or a crash), the process `exit` hook posts what is
 * left; messages posted from that hook still reach the primary, which writes them before its own
 * shutdown completes. A hard kill of the whole process loses at most the last flush interval of usage
 * here plus whatever the primary had not written yet (one flush interval, see lib/metering/meter.ts).
 */
import { sendToPrimary } from '../ipc.js'
import { runtimeEnv } from '../runtime-env.js'
import { BatchBuilder, type UsageBatch } from './records.js'

/** Flush interval, ms: 100, or WEIR_METER_FLUSH_MS (e.g. for shutdown tests), read once (lib/runtime-env.ts). */
export const flushMs = (): number => runtimeEnv().meterFlushMs
export const FLUSH_COUNT = 512
/** Event carrying a UsageBatch to the primary. */
export const USAGE_EVENT = 'spend.usage'

export type Ship = (batch: UsageBatch) => void

const defaultShip: Ship = (b) => { sendToPrimary(USAGE_EVENT, b, [b.rows.buffer as ArrayBuffer]) }

export class Outbox {
  readonly batch: BatchBuilder
  private timer: NodeJS.Timeout | null = null
  private readonly exitHook = (): void => { this.flush() }

  constructor (holder: string, private readonly ship: Ship = defaultShip) {
    this.batch = new BatchBuilder(holder)
    process.on('exit', this.exitHook)
  }

  /** Call after adding to `batch`: schedules (or forces) a flush. */
  touched (): void {
    if (this.batch.size >= FLUSH_COUNT) { this.flush(); return }
    if (this.timer === null) {
      this.timer = setTimeout(() => { this.timer = null; this.flush() }, flushMs())
      this.timer.unref()
    }
  }

  /** Post everything collected so far. */
  flush (): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null }
    if (this.batch.empty) return
    this.ship(this.batch.take())
  }

  /** Flush and stop (tests). */
  close (): void {
    this.flush()
    process.off('exit', this.exitHook)
  }
}
