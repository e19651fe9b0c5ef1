/**
 * The telemetry subsystem in the primary (one entry of `workers/primary-modules.ts`):
 *
 *   - the OTLP relay (`relay.ts`), when `telemetry.forward_to` lists collectors: receives the
 *     bodies HTTP workers post, stamps identity in the shared Piscina pool, forwards them;
 *   - the gateway's own metrics (`registry.ts`, `exporter.ts`), when `telemetry.gateway_metrics`
 *     is set: sums the workers' snapshots, adds pool and relay gauges, exports over OTLP and/or
 *     serves Prometheus text;
 *   - Claude Code analytics (`analytics.ts`), when `admin:` is configured: the metrics bodies are
 *     also summed per developer and day into Postgres for the Claude Code usage report, whether
 *     or not a collector is configured (a body both need is copied, since the relay moves its own).
 * At stop, queued telemetry gets two seconds to go out, the metrics get a last export, and the
 * pool lease is returned.
 *
 * Reload (`reload(loaded)`): `telemetry.forward_to`, `resource_attributes` and the decode bound
 * from `limits.max_request_bytes` apply live. The relay is started on the first reload that lists
 * a collector and retargeted on later ones (relay.ts `retarget`: what was accepted before the
 * switch still goes to the previous collectors, up to RETIRE_GRACE_MS); a body is routed by the
 * config current when it arrives. `gateway_metrics` is fixed at boot (lib/config/diff.ts).
 */
import { isDeepStrictEqual } from 'node:util'
import { BootError } from '../errors.js'
import { onEvent } from '../ipc.js'
import { ops } from '../log.js'
import { guardedAgent } from '../net/ssrf.js'
import type { Sql } from '../store/db.js'
import { acquirePrimaryPool, primaryPoolStats } from '../workers-pool.js'
import type { LoadedConfig } from '../config/load.js'
import type { TelemetryConfig } from '../config/schema.js'
import { CodeAnalytics } from './analytics.js'
import { startMetricsOutputs } from './exporter.js'
import { googleAuthHeaders } from './google-auth.js'
import { reloadStatus } from '../config/reload-state.js'
import { METRICS_EVENT, disableRecorder, enableRecorder, type MetricsSnapshot } from './metrics.js'
import { SIGNALS } from './otlp.js'
import { BATCH_EVENT, type BatchMessage, Relay } from './relay.js'
import { MetricsRegistry } from './registry.js'

/** How long queued telemetry may still be delivered at shutdown. */
const STOP_GRACE_MS = 2000
/** How long collectors removed by a reload may still deliver what was queued for them. */
const RETIRE_GRACE_MS = 30_000

export interface RunningTelemetry {
  stop: () => Promise<void>
  /** Apply a reloaded config's telemetry: later bodies follow it at once (old collectors retire in the background). */
  reload: (loaded: LoadedConfig) => void
}

const authFor = (t: TelemetryConfig) => (i: number) => {
  const google = t.forward_to[i]?.auth?.google
  return google === undefined ? undefined : googleAuthHeaders(google.service_account_json)
}

function describeRelay (t: TelemetryConfig): void {
  const dests = t.forward_to
  if (dests.length === 0) ops.info('telemetry relay: off (telemetry.forward_to is empty)')
  else {
    const on = SIGNALS.filter((s) => dests.some((d) => d[s]))
    ops.info(`telemetry relay: ${dests.length} collector(s), signals: ${on.length === 0 ? 'none' : on.join(', ')}`)
  }
}

export async function startTelemetry (ctx: { loaded: LoadedConfig, boot: { port: number }, sql?: Sql }): Promise<RunningTelemetry> {
  const { config } = ctx.loaded
  const t = config.telemetry
  const gm = t.gateway_metrics
  if (gm?.prometheus !== undefined && gm.prometheus.port !== 0 && gm.prometheus.port === ctx.boot.port) {
    throw new BootError(['telemetry.gateway_metrics.prometheus.port: must differ from listen.port (the metrics are served on a port of their own)'])
  }
  describeRelay(t)
  const analyticsOn = config.admin !== undefined && ctx.sql !== undefined

  const registry = new MetricsRegistry()
  const cleanups: Array<() => Promise<void> | void> = []
  // The telemetry config bodies are routed by (replaced by a reload).
  let current: TelemetryConfig = t
  const relayWants = (signal: BatchMessage['signal']): boolean => current.forward_to.some((d) => d[signal])
  let analytics: CodeAnalytics | undefined
  let relay: Relay | undefined
  const startRelay = (tc: TelemetryConfig, maxRequestBytes: number): Relay => {
    const pool = acquirePrimaryPool()
    cleanups.push(() => pool.release())
    const agent = guardedAgent({ connections: 4 })
    cleanups.push(() => agent.destroy())
    const r = new Relay(tc, registry, pool, agent, { maxRequestBytes, authFor: authFor(tc) })
    cleanups.push(() => r.stop(STOP_GRACE_MS))
    return r
  }
  try {
    if (analyticsOn && ctx.sql !== undefined) {
      const pool = acquirePrimaryPool()
      cleanups.push(() => pool.release())
      const a = new CodeAnalytics(ctx.sql, pool, Math.max(config.limits.max_request_bytes, 64 * 1024 * 1024)).start()
      analytics = a
      cleanups.push(async () => { await a.stop() })
    }
    if (t.forward_to.length > 0) relay = startRelay(t, config.limits.max_request_bytes)
    cleanups.push(onEvent(BATCH_EVENT, (m: BatchMessage) => {
      const wants = relay !== undefined && relayWants(m.signal)
      if (analytics !== undefined && m.signal === 'metrics') analytics.accept({ ...m, body: wants ? m.body.slice(0) : m.body })
      if (wants) relay?.accept(m)
    }))
    // The pool is shared (metering uses it too): report it whether or not the relay is on.
    registry.gauge('weir.pool.threads', 'Threads in the primary worker pool', '{thread}', [], () => [[[], primaryPoolStats()?.threads ?? 0]])
    registry.gauge('weir.pool.queue', 'Tasks waiting in the primary worker pool', '{task}', [], () => [[[], primaryPoolStats()?.queued ?? 0]])
    registry.gauge('weir.config.reload.failed', 'Whether the last config reload failed (1; the previous config still runs) or not (0)', '1', [], () => [[[], reloadStatus().ok ? 0 : 1]])
    registry.gauge('weir.config.reloads', 'Config reload attempts since boot, by result', '{reload}', ['result'], () => [[['ok'], reloadStatus().succeeded], [['failed'], reloadStatus().failed]])
    registry.gauge('weir.config.generation', 'The config generation served (1 = the boot config)', '1', [], () => [[[], reloadStatus().generation]])
    if (gm !== undefined) {
      cleanups.push(onEvent(METRICS_EVENT, (s: MetricsSnapshot) => { registry.merge(s) }))
      const outputs = await startMetricsOutputs(gm, registry, config.listen.host)
      cleanups.push(() => outputs.stop())
      // Code running in the primary (metering, for one) records too; its snapshots arrive through
      // the same event. Stopped first, so its last snapshot makes the final export.
      enableRecorder()
      cleanups.push(() => disableRecorder())
    }
  } catch (err) {
    await stopAll(cleanups)
    throw err
  }
  let currentMax = config.limits.max_request_bytes
  return {
    stop: async () => { await stopAll(cleanups) },
    reload: (next: LoadedConfig) => {
      const nt = next.config.telemetry
      const maxRequestBytes = next.config.limits.max_request_bytes
      const same = isDeepStrictEqual(nt, current) && maxRequestBytes === currentMax
      current = nt
      currentMax = maxRequestBytes
      if (same) return
      describeRelay(nt)
      analytics?.setMaxBytes(Math.max(maxRequestBytes, 64 * 1024 * 1024))
      if (relay === undefined) {
        if (nt.forward_to.length > 0) relay = startRelay(nt, maxRequestBytes)
        return
      }
      // The switch is synchronous; the previous collectors retire in the background.
      void relay.retarget(nt, { maxRequestBytes, authFor: authFor(nt), graceMs: RETIRE_GRACE_MS })
    },
  }
}

async function stopAll (cleanups: Array<() => Promise<void> | void>): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try { await c() } catch (err) { ops.warn(`telemetry: stopping: ${err instanceof Error ? err.message : String(err)}`) }
  }
}
