/**
 * Telemetry's events (lib/ipc.ts `EventMap`), worker → primary: the body of one telemetry request
 * (BATCH_EVENT, sent by lib/telemetry/routes.ts, relayed and summed by lib/telemetry/module.ts) and
 * a thread's metrics snapshot (METRICS_EVENT, sent by lib/telemetry/metrics.ts, merged by the
 * telemetry module and the console's stats). Telemetry has no RPCs.
 */
import type { MetricsSnapshot } from './metrics.js'
import type { Signal } from './otlp.js'

declare module '../ipc.js' {
  /** Names as here (BATCH_EVENT) and in lib/telemetry/metrics.ts (METRICS_EVENT). */
  interface EventMap {
    'telemetry.batch': BatchMessage
    'telemetry.metrics': MetricsSnapshot
  }
}

/** Event name of the bodies HTTP workers send. */
export const BATCH_EVENT = 'telemetry.batch'

/** What an HTTP worker sends for one telemetry request. `body` is transferred, not copied. */
export interface BatchMessage {
  readonly signal: Signal
  /** The request's Content-Type ('' when absent). */
  readonly contentType: string
  /** The request's Content-Encoding ('' when absent). */
  readonly encoding: string
  readonly sub: string
  readonly email: string | undefined
  readonly groups: readonly string[]
  readonly body: ArrayBuffer
}

