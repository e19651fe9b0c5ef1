/**
 * One HTTP worker thread: a uWebSockets.js app listening on the shared port (SO_REUSEPORT lets
 * every worker bind it; the kernel spreads connections), serving the route table.
 *
 * Lifecycle messages from the primary: `{t:'drain', timeoutMs}` stops accepting (the listen socket
 * is closed first — uWS aborts the process if a thread exits with it open), lets in-flight
 * requests finish up to the deadline, closes every connection and answers `{t:'drained'}`.
 *
 * Config reloads (RELOAD_EVENT): the worker builds the services, routes and pipeline of the new
 * config and swaps them in between requests (lib/http/generations.ts); requests already running,
 * streams included, finish on the generation they started on. The listen socket and TLS context
 * stay as booted (the primary never sends changes to those keys).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { configureBodies } from '../lib/http/body.js'
import { buildRouter } from './routes.js'
import { buildServices, type Services } from '../lib/services.js'
import type { Config } from '../lib/config/schema.js'
import type { ConfigPush } from '../lib/config/rpc-map.js'
import { RELOAD_APPLIED_EVENT, RELOAD_EVENT, RELOAD_STATUS_EVENT, RELOAD_WORKER_FAILED_EVENT, type ReloadStatus, setReloadStatus } from '../lib/config/reload-state.js'
import { type Build, Generations } from '../lib/http/generations.js'
import { setHsts } from '../lib/http/respond.js'
import { pipeline } from '../lib/http/router.js'
import { onEvent, sendToPrimary, startWorkerIpc } from '../lib/ipc.js'
import { flushMetrics } from '../lib/telemetry/metrics.js'
import { describeError, ops, setLogLevel } from '../lib/log.js'
import { setRuntimeEnv } from '../lib/runtime-env.js'
import { CidrList } from '../lib/net/cidr.js'
import { deepFreeze, type WorkerContext, type WorkerInit } from '../lib/worker-context.js'
import type { us_listen_socket } from 'uWebSockets.js'
import { loadUws } from '../lib/http/native.js'

const uWS = loadUws().module

const init = workerData as WorkerInit
setRuntimeEnv(init.boot.runtime)
setLogLevel(init.logLevel)
const config = deepFreeze(init.config)
const boot = deepFreeze(init.boot)
const ctx: WorkerContext = { config, boot, index: init.index }
startWorkerIpc()
configureBodies(init.boot.bodies)

const tls = config.listen.tls
setHsts(tls !== undefined)
const app = tls !== undefined
  ? uWS.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key })
  : uWS.App()

/** One generation's handler: services (reusing `prev`'s unchanged parts), routes, pipeline. */
let last: { config: Readonly<Config>, svc: Services } | undefined
function generation (c: WorkerContext): Build {
  return (track) => {
    const svc = buildServices(c, last)
    const router = buildRouter(c, svc)
    const handler = pipeline(router, {
      allow: new CidrList(c.config.access_control.allow_cidrs),
      deny: new CidrList(c.config.access_control.deny_cidrs),
      trusted: new CidrList(c.config.listen.trusted_proxies),
      maxUrlLength: c.config.limits.max_url_length,
      maxHeaderBytes: c.config.limits.max_request_header_bytes,
      maxBodyBytes: c.config.limits.max_request_bytes,
    }, track)
    last = { config: c.config, svc }
    return { handler, owned: [...svc.owned, ...router.owned()] }
  }
}

const gens = new Generations(generation(ctx), init.generation)
app.any('/*', gens.handler)
onEvent(RELOAD_STATUS_EVENT, (s: ReloadStatus) => { setReloadStatus(s) })
onEvent(RELOAD_EVENT, (m: ConfigPush) => {
  if (m.generation <= gens.generation) return
  try {
    gens.swap(generation({ config: deepFreeze(m.config), boot, index: init.index }), m.generation)
    sendToPrimary(RELOAD_APPLIED_EVENT, { index: init.index, generation: m.generation })
  } catch (err) {
    ops.error(`worker ${init.index}: config generation ${m.generation} could not be built; keeping generation ${gens.generation}: ${describeError(err)}`)
    sendToPrimary(RELOAD_WORKER_FAILED_EVENT, { index: init.index, generation: m.generation, error: describeError(err) })
  }
})

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
  if (gens.inflight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      gens.onIdle(() => { clearTimeout(timer); resolve() })
    })
  }
  if (gens.inflight > 0) ops.warn(`worker ${ctx.index}: drain deadline reached with ${gens.inflight} request(s) still open`)
  closeApp()
  flushMetrics()
  parentPort?.postMessage({ t: 'drained', inflight: gens.inflight })
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
