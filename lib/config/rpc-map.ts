/**
 * Config reload's events (lib/ipc.ts `EventMap`). Primary → workers: the config of a new
 * generation (RELOAD_EVENT) and the outcome of the last reload (RELOAD_STATUS_EVENT; to a worker
 * that joins too). Worker → primary: a worker serves a generation (RELOAD_APPLIED_EVENT) or could
 * not build it and keeps the previous one (RELOAD_WORKER_FAILED_EVENT). Sent by workers/primary.ts
 * and workers/http-worker.ts; names in lib/config/reload-state.ts. Config has no RPCs.
 */
import type { ReloadStatus } from './reload-state.js'
import type { Config } from './schema.js'

/** RELOAD_EVENT: the validated config of generation `generation`. */
export interface ConfigPush { readonly config: Config, readonly generation: number }
/** RELOAD_APPLIED_EVENT: worker slot `index` now serves `generation`. */
export interface ReloadApplied { readonly index: number, readonly generation: number }
/** RELOAD_WORKER_FAILED_EVENT: worker slot `index` could not build `generation` (why: `error`). */
export interface ReloadWorkerFailed { readonly index: number, readonly generation: number, readonly error: string }

declare module '../ipc.js' {
  interface EventMap {
    'config.reload': ConfigPush
    'config.reload-status': ReloadStatus
    'config.reload-applied': ReloadApplied
    'config.reload-worker-failed': ReloadWorkerFailed
  }
}
