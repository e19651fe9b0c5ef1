/**
 * The primary thread: boots the gateway and supervises the HTTP workers.
 *
 * Boot order (any failure aborts with a `BootError` before a single port is opened):
 *   1. the native uWebSockets.js build is loaded (not the package's slow JS fallback);
 *   2. Postgres answers within 5 s and migrations are applied under an advisory lock;
 *   3. the identity provider's discovery document is fetched and checked;
 *   4. TLS files are readable;
 *   5. N worker threads start and all bind `listen.port`.
 * Because workers only listen after steps 1–4, the discovery document answers 200 only once the
 * whole boot succeeded.
 *
 * The primary owns the one Postgres pool (workers reach it through `lib/ipc.ts`), the background
 * sweeps, and worker supervision: a worker that dies is logged and replaced. `stop()` drains:
 * workers stop accepting, in-flight requests get up to the drain timeout, then the pool closes.
 *
 * `reload()` re-reads the config (lib/config/reload.ts): live changes go first to the primary's
 * modules that take them (`Running.reload`: telemetry destinations, pricing), then to every worker
 * as one new frozen config generation; a replacement worker starts on the current generation.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Sql } from 'postgres'
import { discoverOidc } from '../lib/auth/discovery.js'
import { loadConfig, type LoadedConfig } from '../lib/config/load.js'
import { ConfigReloader, type ReloadOutcome } from '../lib/config/reload.js'
import { RELOAD_APPLIED_EVENT, RELOAD_EVENT, RELOAD_STATUS_EVENT, RELOAD_WORKER_FAILED_EVENT, reloadStatus } from '../lib/config/reload-state.js'
import type { ReloadApplied, ReloadWorkerFailed } from '../lib/config/rpc-map.js'
import { BootError } from '../lib/errors.js'
import { attachWorker, broadcast, clearRpc, onEvent, onWorkerJoin } from '../lib/ipc.js'
import { audit, describeError, ops } from '../lib/log.js'
import { openPool, verifyConnection } from '../lib/store/db.js'
import { migrate } from '../lib/store/migrate.js'
import { bodyKnobs } from '../lib/http/body.js'
import { runtimeEnv } from '../lib/runtime-env.js'
import { registerStoreRpc } from '../lib/store/rpc.js'
import { startSweeps } from '../lib/store/sweeps.js'
import { HTTP_WORKER_FILE } from '../lib/version.js'
import type { BootInfo, WorkerInit } from '../lib/worker-context.js'
import { loadUws, uwsStartupLine } from '../lib/http/native.js'
import { primaryModules, type Running } from './primary-modules.js'

export interface StartOptions {
  /** HTTP worker threads (default: the machine's available parallelism). */
  workers?: number
  /** How long in-flight requests may run during shutdown, ms (default CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS or 30 s). */
  drainTimeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** How a reload reads the config (default: `loadConfig` of the boot path with `env`). */
  read?: () => LoadedConfig
}

export interface Gateway {
  /** The bound port. */
  readonly port: number
  /** `http(s)://host:port` for local clients. */
  readonly url: string
  readonly sql: Sql
  /** Current worker threads (a crashed worker is replaced by a new object). */
  workers (): readonly Worker[]
  /** Resolves when `n` workers (default all) are listening — e.g. after a respawn. */
  whenListening (): Promise<void>
  /**
   * Re-read the config and apply what can change live (SIGHUP, --watch). Never throws; resolves
   * once every worker answered for the new generation (or after 10 s).
   */
  reload (reason?: string): Promise<ReloadOutcome>
  /** The config now served. */
  current (): LoadedConfig
  /** Graceful shutdown. */
  stop (): Promise<void>
}

/** Pick a free TCP port on `host` (used when `listen.port` is 0, so all workers share one port). */
async function freePort (host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      srv.close(() => { resolve(typeof addr === 'object' && addr !== null ? addr.port : 0) })
    })
  })
}

export async function startGateway (loaded: LoadedConfig, opts: StartOptions = {}): Promise<Gateway> {
  const env = opts.env ?? process.env
  const { config } = loaded
  const fallbackLine = uwsStartupLine(loadUws())
  if (fallbackLine !== undefined) ops.warn(fallbackLine)

  const sql = openPool(config.store)
  try {
    await verifyConnection(sql, loaded.path)
    await migrate(sql)
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {})
    throw err
  }
  registerStoreRpc(sql)

  let sweeps: { stop: () => void } | undefined
  const running: Array<{ name: string, r: Running }> = []
  const stopModules = async (): Promise<void> => {
    for (const { name, r } of running.reverse()) {
      try { await r.stop() } catch (err) { ops.warn(`stopping ${name}: ${describeError(err)}`) }
    }
    running.length = 0
  }
  try {
    const oidc = config.oidc === undefined ? null : await discoverOidc(config.oidc, env)
    if (config.listen.tls !== undefined) {
      for (const f of [config.listen.tls.cert, config.listen.tls.key]) {
        try { readFileSync(f) } catch (err) { throw new BootError([`listen.tls: cannot read ${f}: ${describeError(err)}`]) }
      }
    }
    const port = config.listen.port === 0 ? await freePort(config.listen.host) : config.listen.port
    const boot: BootInfo = { oidc, port, bodies: bodyKnobs(env), runtime: runtimeEnv() }
    for (const m of primaryModules()) {
      const r = await m.start({ sql, loaded, boot })
      if (r !== undefined) running.push({ name: m.name, r })
    }
    sweeps = startSweeps(sql, {
      auditRetentionDays: config.admin?.audit_retention_days ?? 365,
      spendRetentionMonths: config.admin?.spend_retention_months ?? 13,
      identityRetentionDays: config.admin?.identity_retention_days ?? 90,
    })
    const read = opts.read ?? (() => loadConfig(loaded.path, env))
    const reloadModules = (next: LoadedConfig): void => {
      for (const { name, r } of running) {
        try { r.reload?.(next) } catch (err) { ops.error(`config reload: ${name} could not apply the new config: ${describeError(err)}`) }
      }
    }
    return await superviseWorkers(loaded, read, boot, sql, { stop: async () => { sweeps?.stop(); await stopModules() }, reload: reloadModules }, {
      count: Math.max(1, opts.workers ?? availableParallelism()),
      drainTimeoutMs: opts.drainTimeoutMs ?? (Number(env.CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS) || 30_000),
    })
  } catch (err) {
    sweeps?.stop()
    await stopModules()
    clearRpc()
    await sql.end({ timeout: 1 }).catch(() => {})
    throw err
  }
}

async function superviseWorkers (loaded: LoadedConfig, read: () => LoadedConfig, boot: BootInfo, sql: Sql,
  background: { stop: () => Promise<void>, reload: (next: LoadedConfig) => void },
  o: { count: number, drainTimeoutMs: number }): Promise<Gateway> {
  const { config } = loaded
  let generation = 1
  const reloader = new ConfigReloader(loaded, read, (next, g) => {
    generation = g
    background.reload(next)
    broadcast(RELOAD_EVENT, { config: next.config, generation: g })
  }, (s) => { broadcast(RELOAD_STATUS_EVENT, s) })
  onWorkerJoin((send) => { send(RELOAD_STATUS_EVENT, reloadStatus()) })
  // Which generation each worker slot answered for last (applied, or failed and kept the previous).
  const answered = new Map<number, number>()
  let answerWaiters: Array<() => void> = []
  const heard = (index: number, g: number): void => {
    answered.set(index, Math.max(g, answered.get(index) ?? 0))
    const w = answerWaiters; answerWaiters = []; for (const f of w) f()
  }
  const offs = [
    onEvent(RELOAD_WORKER_FAILED_EVENT, (m: ReloadWorkerFailed) => {
      reloader.workerFailed(m.index, m.generation, m.error)
      heard(m.index, m.generation)
    }),
    onEvent(RELOAD_APPLIED_EVENT, (m: ReloadApplied) => { heard(m.index, m.generation) }),
  ]
  const offWorkerFailed = (): void => { for (const off of offs) off() }
  const allAnswered = async (g: number): Promise<void> => {
    const deadline = Date.now() + 10_000
    while (slots.some((w, i) => w !== null && listening.has(w) && (answered.get(i) ?? 0) < g)) {
      const left = deadline - Date.now()
      if (left <= 0) { ops.warn(`config reload: not every worker confirmed generation ${g} within 10 s`); return }
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, left); answerWaiters.push(() => { clearTimeout(t); resolve() }) })
    }
  }
  const slots: Array<Worker | null> = new Array<Worker | null>(o.count).fill(null)
  const listening = new Set<Worker>()
  let stopping = false
  let waiters: Array<() => void> = []
  const notify = (): void => { if (listening.size === o.count) { const w = waiters; waiters = []; for (const f of w) f() } }

  const spawn = (i: number, failures: number): Promise<void> => new Promise((resolve, reject) => {
    const init: WorkerInit = { config: reloader.current().config, generation, boot, index: i, logLevel: runtimeEnv().logLevel ?? 'info' }
    const w = new Worker(HTTP_WORKER_FILE, { workerData: init })
    slots[i] = w
    attachWorker(w)
    let up = false
    w.on('message', (m: { t?: string, error?: string }) => {
      if (m?.t === 'listening') { up = true; answered.set(i, init.generation); listening.add(w); notify(); resolve() }
      if (m?.t === 'listen-failed') reject(new BootError([m.error ?? 'a worker could not listen']))
    })
    w.on('error', (err) => { ops.error(`worker ${i} failed: ${describeError(err)}`) })
    w.on('exit', (code) => {
      listening.delete(w)
      if (stopping) return
      audit('worker.exit', { worker: i, code })
      if (!up) { reject(new BootError([`worker ${i} exited during boot (code ${code})`])); return }
      ops.error(`worker ${i} exited with code ${code}; starting a replacement`)
      const delay = Math.min(5000, 100 * 2 ** failures)
      setTimeout(() => {
        if (stopping) return
        spawn(i, failures + 1).then(() => ops.info(`worker ${i} replaced`),
          (err: unknown) => ops.error(`worker ${i} could not be replaced: ${describeError(err)}`))
      }, delay).unref()
    })
  })

  const stopWorkers = async (): Promise<void> => {
    stopping = true
    await Promise.all(slots.map(async (w) => {
      if (w === null) return
      // The worker closes its uWS sockets and exits by itself; terminating a thread that still
      // holds uWS sockets would abort the process, so terminate() is only a last resort.
      const exited = await new Promise<boolean>((resolve) => {
        const hard = setTimeout(() => resolve(false), o.drainTimeoutMs + 5000)
        w.once('exit', () => { clearTimeout(hard); resolve(true) })
        w.postMessage({ t: 'drain', timeoutMs: o.drainTimeoutMs })
      })
      if (!exited) { ops.error('a worker did not finish draining; terminating it'); await w.terminate() }
    }))
  }

  try {
    await Promise.all(slots.map(async (_, i) => { await spawn(i, 0) }))
  } catch (err) {
    offWorkerFailed()
    await stopWorkers()
    throw err
  }

  const scheme = config.listen.tls !== undefined ? 'https' : 'http'
  const host = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host
  const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${boot.port}`
  let stopped: Promise<void> | undefined
  return {
    port: boot.port,
    url,
    sql,
    workers: () => slots.filter((w): w is Worker => w !== null),
    whenListening: async () => { if (listening.size < o.count) await new Promise<void>((resolve) => waiters.push(resolve)) },
    reload: async (reason = 'requested') => {
      const out = reloader.reload(reason)
      if (out.applied.length > 0) await allAnswered(out.generation)
      return out
    },
    current: () => reloader.current(),
    stop: async () => {
      stopped ??= (async () => {
        offWorkerFailed()
        await stopWorkers()
        await background.stop()
        clearRpc()
        await sql.end({ timeout: 5 }).catch(() => {})
      })()
      await stopped
    },
  }
}

/** Listening banner lines (ops log, info). */
export function bootSummary (loaded: LoadedConfig, gw: Gateway, workers: number): string[] {
  const c = loaded.config
  return [
    `weir listening on ${gw.url} with ${workers} worker thread(s)`,
    ...(c.listen.public_url !== undefined ? [`public_url ${c.listen.public_url}`] : []),
    ...(c.oidc !== undefined ? [`oidc issuer ${c.oidc.issuer}`] : []),
    `upstreams ${c.upstreams.length}: ${c.upstreams.map((u) => `${u.name}(${u.provider})`).join(', ')}`,
  ]
}
