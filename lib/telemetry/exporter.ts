/**
 * Where the gateway's own metrics go (`telemetry.gateway_metrics`, a Weir extension):
 *
 *   - `otlp`: pushed every `interval_seconds` with @opentelemetry/exporter-metrics-otlp-http
 *     to `<url>/v1/metrics` (OTLP/HTTP JSON), through a connection lookup that applies the SSRF
 *     guard. The registry is plugged into the SDK's periodic reader as a metric producer.
 *   - `prometheus`: served as Prometheus text at `GET /metrics` on a separate port (default host:
 *     `listen.host`), by the primary. Nothing else is served there, so it can be exposed to a
 *     scraper without exposing the API, and the API port never serves it.
 *
 * The OpenTelemetry SDK and exporter are imported only when `otlp` is configured (at boot; the
 * key needs a restart): a gateway without an OTLP output never loads them in any thread.
 */
import { createServer, type Server } from 'node:http'
import { hostname } from 'node:os'
import type { MeterProvider } from '@opentelemetry/sdk-metrics'
import type { GatewayMetricsConfig } from '../config/schema/policy.js'
import { describeError, ops } from '../log.js'
import { guardedHttpAgent, loopbackAllowed } from '../net/ssrf.js'
import { VERSION } from '../version.js'
import type { MetricsRegistry } from './registry.js'

export interface MetricsOutputs {
  /** Bound Prometheus address (`http://host:port/metrics`), when serving. */
  readonly prometheusUrl: string | null
  stop: () => Promise<void>
}

let lastPrometheusUrl: string | null = null
/** The most recently bound Prometheus endpoint in this process (for tests and `weir dev`). */
export function prometheusUrl (): string | null { return lastPrometheusUrl }

async function servePrometheus (registry: MetricsRegistry, host: string, port: number): Promise<{ server: Server, url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/metrics') { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'); return }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return }
    let text: string
    try { text = registry.prometheus() } catch (err) {
      ops.error(`metrics: rendering failed: ${describeError(err)}`)
      res.writeHead(500).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : text)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const addr = server.address()
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return { server, url: `http://${h.includes(':') ? `[${h}]` : h}:${bound}/metrics` }
}

export async function startMetricsOutputs (gm: GatewayMetricsConfig, registry: MetricsRegistry, listenHost: string): Promise<MetricsOutputs> {
  let provider: MeterProvider | null = null
  if (gm.otlp !== undefined) {
    const [{ ValueType }, { OTLPMetricExporter }, { resourceFromAttributes }, { AggregationTemporality, DataPointType, MeterProvider, PeriodicExportingMetricReader }] = await Promise.all([
      import('@opentelemetry/api'), import('@opentelemetry/exporter-metrics-otlp-http'), import('@opentelemetry/resources'), import('@opentelemetry/sdk-metrics'),
    ])
    const resource = resourceFromAttributes({
      'service.name': 'weir',
      'service.version': VERSION,
      'service.instance.id': `${hostname()}:${process.pid}`,
    })
    const intervalMs = Math.round(gm.otlp.interval_seconds * 1000)
    const exporter = new OTLPMetricExporter({
      url: `${gm.otlp.url.replace(/\/+$/, '')}/v1/metrics`,
      headers: { ...gm.otlp.headers },
      timeoutMillis: Math.min(10_000, intervalMs),
      // a factory, not options: the guard must also see literal addresses, which never reach a lookup
      httpAgentOptions: async (protocol) => {
        const mod = protocol === 'https:' ? await import('node:https') : await import('node:http')
        return guardedHttpAgent(mod.Agent, loopbackAllowed(), { keepAlive: true })
      },
    })
    provider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: intervalMs,
        exportTimeoutMillis: Math.min(10_000, intervalMs),
        metricProducers: [registry.producer(resource, { ValueType, AggregationTemporality, DataPointType })],
      })],
    })
    ops.info(`metrics: exporting to ${gm.otlp.url.replace(/\/+$/, '')}/v1/metrics every ${gm.otlp.interval_seconds} s`)
  }
  let prom: { server: Server, url: string } | null = null
  if (gm.prometheus !== undefined) {
    try {
      prom = await servePrometheus(registry, gm.prometheus.host ?? listenHost, gm.prometheus.port)
    } catch (err) {
      await provider?.shutdown().catch(() => {})
      throw new Error(`telemetry.gateway_metrics.prometheus: cannot listen on ${gm.prometheus.host ?? listenHost}:${gm.prometheus.port}: ${describeError(err)}`)
    }
    lastPrometheusUrl = prom.url
    ops.info(`metrics: Prometheus text at ${prom.url}`)
  }
  return {
    prometheusUrl: prom?.url ?? null,
    stop: async () => {
      if (prom !== null) {
        const s = prom.server
        await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections() })
        if (lastPrometheusUrl === prom.url) lastPrometheusUrl = null
      }
      // shutdown() exports once more, so the last interval's numbers are not lost.
      if (provider !== null) await provider.shutdown({ timeoutMillis: 5000 }).catch((err: unknown) => ops.warn(`metrics: final export failed: ${describeError(err)}`))
    },
  }
}
