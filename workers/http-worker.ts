/**
 * One HTTP worker thread: a uWebSockets.js app listening on the shared port (SO_REUSEPORT lets
 * every worker bind it; the kernel spreads connections), serving the route table.
 *
 * Lifecycle messages from the primary: `{t:'drain', timeoutMs}` stops accepting (the listen socket
 * is closed first — uWS aborts the process if a thread exits with it open), lets in-flight
 * requests finish up to the deadline, closes every connection and answers `{t:'drained'}`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { configureBodies } from '../lib/http/body.js'
import { buildRouter } from '../lib/http/routes.js'
import { buildServices } from '../lib/services.js'
import { setHsts } from '../lib/http/respond.js'
import { pipeline } from '../lib/http/router.js'
import { startWorkerIpc } from '../lib/ipc.js'
import { flushMetrics } from '../lib/telemetry/metrics.js'
import { describeError, ops, setLogLevel } from '../lib/log.js'
import { CidrList } from '../lib/net/cidr.js'
import { deepFreeze, type WorkerContext, type WorkerInit } from '../lib/worker-context.js'
import type { us_listen_socket } from 'uWebSockets.js'
import { loadUws } from '../lib/http/native.js'

const uWS = loadUws().module

const init = workerData as WorkerInit
setLogLevel(init.logLevel)
const config = deepFreeze(init.config)
const ctx: WorkerContext = { config, boot: deepFreeze(init.boot), index: init.index }
startWorkerIpc()
configureBodies(init.boot.bodies)

const tls = config.listen.tls
setHsts(tls !== undefined)
const app = tls !== undefined
  ? uWS.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key })
  : uWS.App()

let inflight = 0
let drainWaiter: (() => void) | null = null
const track = {
  start: () => { inflight++ },
  end: () => { inflight--; if (inflight === 0 && drainWaiter !== null) drainWaiter() },
}

const router = buildRouter(ctx, buildServices(ctx))
app.any('/*', pipeline(router, {
  allow: new CidrList(config.access_control.allow_cidrs),
  deny: new CidrList(config.access_control.deny_cidrs),
  trusted: new CidrList(config.listen.trusted_proxies),
  maxUrlLength: config.limits.max_url_length,
  maxHeaderBytes: config.limits.max_request_header_bytes,
  maxBodyBytes: config.limits.max_request_bytes,
}, track))

let listenSocket: us_listen_socket | null = null
app.listen(config.listen.host, init.boot.port, (sock) => {
  if (sock === false || sock === null || sock === undefined) {
    parentPort?.postMessage({ t: 'listen-failed', error: `could not listen on ${config.listen.host}:${init.boot.port}` })
    return
  }
  listenSocket = sock
  parentPort?.postMessage({ t: 'listening' })
})

async function drain (timeoutMs: number): Promise<void> {
  if (listenSocket !== null) { uWS.us_listen_socket_close(listenSocket); listenSocket = null }
  if (inflight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      drainWaiter = () => { clearTimeout(timer); resolve() }
    })
  }
  if (inflight > 0) ops.warn(`worker ${ctx.index}: drain deadline reached with ${inflight} request(s) still open`)
  closeApp()
  flushMetrics()
  parentPort?.postMessage({ t: 'drained', inflight })
  process.exit(0)
}

/** Close every uWS socket. A thread that exits with uWS sockets open aborts the whole process. */
function closeApp (): void {
  if (listenSocket !== null) { uWS.us_listen_socket_close(listenSocket); listenSocket = null }
  try { (app as unknown as { close?: () => void }).close?.() } catch (err) { ops.warn(`worker ${ctx.index}: close failed: ${describeError(err)}`) }
}

// A bug must cost one worker (the primary replaces it), never the process.
const crash = (err: unknown): void => {
  ops.error(`worker ${ctx.index} crashed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  closeApp()
  process.exit(1)
}
process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)

parentPort?.on('message', (m: { t?: string, timeoutMs?: number }) => {
  if (m?.t === 'drain') void drain(m.timeoutMs ?? 30_000)
  // Test hook: simulate a crash (only when the test harness enables hooks).
  if (m?.t === 'test-crash' && process.env.WEIR_TEST_HOOKS === '1') setImmediate(() => { throw new Error('simulated worker crash') })
})
