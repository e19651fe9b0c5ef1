/**
 * Reloading gateway.yaml in a running primary (SIGHUP, `weir serve --watch`).
 *
 * Invariants:
 * - The new file goes through the boot loader unchanged (`read`, normally `loadConfig`): the
 *   same interpolation (`${file:}` targets are read again), schema and cross-key checks.
 * - Any failure keeps the running config: nothing is applied, the problem lines are logged as the
 *   loader formats them (`file:line:col path: message`), and the status says the reload failed.
 * - Changes under `RESTART_KEYS` are logged as needing a restart and the running values are kept
 *   (`liveConfig`); all other changes are handed to `apply` at once, as one frozen config.
 * - Reloads are synchronous, so two never interleave.
 */
import { createHash } from 'node:crypto'
import { BootError } from '../errors.js'
import { audit, describeError, ops } from '../log.js'
import { type Change, describeChange, diffConfigs, formatPath, liveConfig } from './diff.js'
import type { LoadedConfig } from './load.js'
import { type ReloadStatus, reloadStatus, setReloadStatus } from './reload-state.js'

export interface ReloadOutcome {
  readonly ok: boolean
  /** The generation served after this attempt. */
  readonly generation: number
  /** Changes applied live. */
  readonly applied: readonly Change[]
  /** Changes that wait for a restart. */
  readonly restart: readonly Change[]
  /** Problem lines when `ok` is false. */
  readonly errors: readonly string[]
}

function deepFreeze<T> (v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

export class ConfigReloader {
  private generation = 1

  constructor (
    private loaded: LoadedConfig,
    private readonly read: () => LoadedConfig,
    /** Hand the new generation to the workers (and anything else live); must not throw. */
    private readonly apply: (loaded: LoadedConfig, generation: number) => void,
    /** Publish the status (to workers); the local copy is set before. */
    private readonly publish: (s: ReloadStatus) => void,
  ) {
    setReloadStatus({ generation: 1, sha256: loaded.sha256, at: null, ok: true, error: null, restartPending: [], succeeded: 0, failed: 0 })
    this.publish(reloadStatus())
  }

  /** The config now served. */
  current (): LoadedConfig { return this.loaded }

  /** A worker could not build the new generation: it keeps serving the previous one. */
  workerFailed (index: number, generation: number, error: string): void {
    ops.error(`config reload: worker ${index} could not apply generation ${generation} (it keeps the previous config): ${error}`)
    this.setStatus({ ok: false, error: `worker ${index}: ${error}`, at: new Date().toISOString() }, 'failed')
  }

  reload (reason: string): ReloadOutcome {
    let next: LoadedConfig
    try {
      next = this.read()
    } catch (err) {
      const errors = err instanceof BootError ? [...err.lines] : [describeError(err)]
      ops.error(`config reload (${reason}) failed; the running config stays:`)
      for (const line of errors) ops.error(`  ${line}`)
      audit('config.reload', { ok: false, reason, path: this.loaded.path, errors })
      this.setStatus({ ok: false, error: errors[0] ?? 'unknown error', at: new Date().toISOString() }, 'failed')
      return { ok: false, generation: this.generation, applied: [], restart: [], errors }
    }
    for (const w of next.warnings) ops.warn(w)
    const changes = diffConfigs(this.loaded.config, next.config)
    const restart = changes.filter((c) => c.restart !== undefined)
    const applied = changes.filter((c) => c.restart === undefined)
    for (const c of restart) ops.warn(`config reload: ${formatPath(c.path)} changed but needs a restart (${c.restart ?? ''}); the running value stays until then`)
    const pending = [...new Set(restart.map((c) => formatPath(c.path)))]
    if (applied.length > 0) {
      const config = deepFreeze(liveConfig(this.loaded.config, next.config))
      const sha256 = createHash('sha256').update(JSON.stringify(config)).digest('hex')
      this.loaded = Object.freeze({ config, path: next.path, sha256, warnings: next.warnings })
      this.generation++
      this.apply(this.loaded, this.generation)
      for (const c of applied) ops.info(`config reload: ${describeChange(c, { values: false })}`)
    }
    ops.info(`config reload (${reason}): ${applied.length} change(s) applied live, ${restart.length} waiting for a restart; generation ${this.generation}`)
    audit('config.reload', { ok: true, reason, path: this.loaded.path, sha256: this.loaded.sha256, generation: this.generation, applied: applied.map((c) => formatPath(c.path)), restart: pending })
    this.setStatus({ ok: true, error: null, at: new Date().toISOString(), restartPending: pending }, 'succeeded')
    return { ok: true, generation: this.generation, applied, restart, errors: [] }
  }

  private setStatus (s: Pick<ReloadStatus, 'ok' | 'error' | 'at'> & { restartPending?: readonly string[] }, count?: 'succeeded' | 'failed'): void {
    const prev = reloadStatus()
    const next: ReloadStatus = {
      generation: this.generation,
      sha256: this.loaded.sha256,
      at: s.at,
      ok: s.ok,
      error: s.error,
      restartPending: s.restartPending ?? (count === undefined ? [] : prev.restartPending),
      succeeded: prev.succeeded + (count === 'succeeded' ? 1 : 0),
      failed: prev.failed + (count === 'failed' ? 1 : 0),
    }
    setReloadStatus(next)
    this.publish(reloadStatus())
  }
}
