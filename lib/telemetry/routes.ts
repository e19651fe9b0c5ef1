/**
 * `POST /v1/metrics`, `/v1/logs`, `/v1/traces`: where signed-in Claude Code clients send their
 * OpenTelemetry data (OTLP/HTTP, protobuf or JSON, optionally gzip-compressed).
 *
 * The worker does as little as possible: check the bearer (401 envelope otherwise), read the body
 * (limits.max_request_bytes applies), answer 200 with an empty body, then transfer the bytes
 * to the primary with the verified identity. Decoding, identity stamping and forwarding happen
 * there (`lib/telemetry/relay.ts`), never on this event loop. A signal no collector wants is
 * answered at once without reading the body. An authenticated client always gets 200 — the
 * client's exporter logs an error on every flush otherwise — whether the batch is relayed or
 * dropped. The bearer is checked from the headers before any body byte is read; a refusal (and the
 * unwanted-signal answer) closes the connection instead of reading on.
 *
 * Also: when `telemetry.gateway_metrics` is configured, this worker's metrics recorder is
 * switched on here (the route table is built once per worker).
 */
import { sendToPrimary } from '../ipc.js'
import type { Services } from '../services.js'
import { recordRequest, enableRecorder } from './metrics.js'
import { SIGNALS } from './otlp.js'
import { BATCH_EVENT, type BatchMessage } from './rpc-map.js'
import type { WorkerContext } from '../worker-context.js'
import { readBody } from '../http/body.js'
import type { Req } from '../http/request.js'
import { send, sendError } from '../http/respond.js'
import type { Router } from '../http/router.js'

const noop = (): void => {}

/** An ArrayBuffer holding exactly `buf`'s bytes that may be transferred (copies a pooled slice). */
function ownBuffer (buf: Buffer): ArrayBuffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf.buffer as ArrayBuffer
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
}

export function registerTelemetryRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  const { telemetry, limits } = ctx.config
  if (telemetry.gateway_metrics !== undefined) enableRecorder()
  for (const signal of SIGNALS) {
    const route = `/v1/${signal}`
    // Metrics are also read for the Claude Code analytics whenever `admin:` is configured.
    const wanted = telemetry.forward_to.some((d) => d[signal]) || (signal === 'metrics' && ctx.config.admin !== undefined)
    const ok = (res: Parameters<typeof send>[0], rq: Req): void => {
      send(res, rq, 200, '')
      recordRequest(route, 200, performance.now() - rq.t0)
    }
    router.on('POST', route, (res, rq) => {
      let who
      try {
        who = svc.sessions.authenticate(rq)
      } catch (err) {
        res.onData(noop)
        throw err
      }
      if (!wanted) { res.onData(noop); ok(res, rq); return }
      readBody(res, rq, limits.max_request_bytes).then((buf) => {
        ok(res, rq)
        if (buf.length === 0) return
        const body = ownBuffer(buf)
        const msg: BatchMessage = {
          signal,
          contentType: rq.headers['content-type'] ?? '',
          encoding: rq.headers['content-encoding'] ?? '',
          sub: who.sub,
          email: who.email,
          groups: [...who.groups],
          body,
        }
        sendToPrimary(BATCH_EVENT, msg, [body])
      }, (err: unknown) => { sendError(res, rq, err) })
    })
  }
}
