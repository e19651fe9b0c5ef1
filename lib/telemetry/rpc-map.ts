/**
 * Telemetry's events (lib/ipc.ts `EventMap`), worker → primary: the body of one telemetry request
 * (BATCH_EVENT, sent by lib/telemetry/routes.ts, relayed and summed by lib/telemetry/module.ts) and
 * a thread's metrics snapshot (METRICS_EVENT, sent by lib/telemetry/metrics.ts, merged by the
 * telemetry module and the console's stats). Telemetry has no RPCs.
 */
import type { MetricsSnapshot } from './metrics.js'
import type { BatchMessage } from './relay.js'

declare module '../ipc.js' {
  /** Names as in lib/telemetry/relay.ts (BATCH_EVENT) and lib/telemetry/metrics.ts (METRICS_EVENT). */
  interface EventMap {
    'telemetry.batch': BatchMessage
    'telemetry.metrics': MetricsSnapshot
  }
}
