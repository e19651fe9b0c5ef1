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
 */
import { BootError } from '../errors.js'
import { onEvent } from '../ipc.js'
import { ops } from '../log.js'
import { guardedAgent } from '../net/ssrf.js'
import type { Sql } from '../store/db.js'
import { acquirePrimaryPool, primaryPoolStats } from '../workers-pool.js'
import type { LoadedConfig } from '../config/load.js'
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

export async function startTelemetry (ctx: { loaded: LoadedConfig, boot: { port: number }, sql?: Sql }): Promise<{ stop: () => Promise<void> | void } | undefined> {
  const { config } = ctx.loaded
  const t = config.telemetry
  const gm = t.gateway_metrics
  if (gm?.prometheus !== undefined && gm.prometheus.port !== 0 && gm.prometheus.port === ctx.boot.port) {
    throw new BootError(['telemetry.gateway_metrics.prometheus.port: must differ from listen.port (the metrics are served on a port of their own)'])
  }
  const dests = t.forward_to
  if (dests.length === 0) ops.info('telemetry relay: off (telemetry.forward_to is empty)')
  else {
    const on = SIGNALS.filter((s) => dests.some((d) => d[s]))
    ops.info(`telemetry relay: ${dests.length} collector(s), signals: ${on.length === 0 ? 'none' : on.join(', ')}`)
  }
  const analyticsOn = config.admin !== undefined && ctx.sql !== undefined
  if (dests.length === 0 && gm === undefined && !analyticsOn) return undefined

  const registry = new MetricsRegistry()
  const cleanups: Array<() => Promise<void> | void> = []
  const relayWants = (signal: BatchMessage['signal']): boolean => dests.some((d) => d[signal])
  let analytics: CodeAnalytics | undefined
  try {
    if (analyticsOn && ctx.sql !== undefined) {
      const pool = acquirePrimaryPool()
      cleanups.push(() => pool.release())
      const a = new CodeAnalytics(ctx.sql, pool, Math.max(config.limits.max_request_bytes, 64 * 1024 * 1024)).start()
      analytics = a
      cleanups.push(async () => { await a.stop() })
    }
    if (dests.length > 0) {
      const pool = acquirePrimaryPool()
      cleanups.push(() => pool.release())
      const agent = guardedAgent({ connections: 4 })
      cleanups.push(() => agent.destroy())
      const relay = new Relay(t, registry, pool, agent, {
        maxRequestBytes: config.limits.max_request_bytes,
        authFor: (i) => {
          const google = dests[i]?.auth?.google
          return google === undefined ? undefined : googleAuthHeaders(google.service_account_json)
        },
      })
      cleanups.push(onEvent(BATCH_EVENT, (m: BatchMessage) => {
        if (analytics !== undefined && m.signal === 'metrics') analytics.accept({ ...m, body: relayWants('metrics') ? m.body.slice(0) : m.body })
        if (relayWants(m.signal)) relay.accept(m)
      }))
      cleanups.push(() => relay.stop(STOP_GRACE_MS))
    } else if (analytics !== undefined) {
      const a = analytics
      cleanups.push(onEvent(BATCH_EVENT, (m: BatchMessage) => { if (m.signal === 'metrics') a.accept(m) }))
    }
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
  return { stop: async () => { await stopAll(cleanups) } }
}

async function stopAll (cleanups: Array<() => Promise<void> | void>): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try { await c() } catch (err) { ops.warn(`telemetry: stopping: ${err instanceof Error ? err.message : String(err)}`) }
  }
}
