/**
 * The outcome of the last config reload, as every thread sees it: the primary sets it when a
 * reload ends and broadcasts it (RELOAD_STATUS_EVENT); workers keep the latest copy for `/readyz`;
 * the primary's metrics read the counters.
 *
 * Invariant: a failed reload never changes the running config, so `ok: false` only adds detail to
 * readiness (the replica still serves the last good config) and never makes it unready.
 */

/** Primary → workers: the config of a new generation (data: `ConfigPush`). Payloads: lib/config/rpc-map.ts. */
export const RELOAD_EVENT = 'config.reload'
/** Primary → workers: the latest `ReloadStatus`. */
export const RELOAD_STATUS_EVENT = 'config.reload-status'
/** Worker → primary: a worker serves generation `generation` (data: `{ index, generation }`). */
export const RELOAD_APPLIED_EVENT = 'config.reload-applied'
/** Worker → primary: a worker could not build a generation (data: `{ index, generation, error }`). */
export const RELOAD_WORKER_FAILED_EVENT = 'config.reload-worker-failed'

export interface ReloadStatus {
  /** The config generation now served (1 = the boot config). */
  readonly generation: number
  /** SHA-256 of the config now served. */
  readonly sha256: string
  /** When the last reload attempt ended (ISO 8601), null before the first one. */
  readonly at: string | null
  /** False when the last reload attempt failed (the previous config stays). */
  readonly ok: boolean
  /** The first problem of the last failed attempt (`file:line:col path: message`). */
  readonly error: string | null
  /** Keys changed in the file that wait for a restart. */
  readonly restartPending: readonly string[]
  /** Reload attempts since boot, by outcome. */
  readonly succeeded: number
  readonly failed: number
}

let status: ReloadStatus = { generation: 1, sha256: '', at: null, ok: true, error: null, restartPending: [], succeeded: 0, failed: 0 }

export function reloadStatus (): ReloadStatus { return status }

export function setReloadStatus (s: ReloadStatus): void { status = Object.freeze({ ...s, restartPending: Object.freeze([...s.restartPending]) }) }

/** The `/readyz` body: `ready`, plus what an operator should know about reloads. */
export function readinessDetail (): string {
  const s = status
  const parts: string[] = []
  if (!s.ok) parts.push(`last config reload failed at ${s.at ?? '?'}: ${s.error ?? 'unknown error'}`)
  if (s.restartPending.length > 0) parts.push(`restart needed to apply: ${s.restartPending.join(', ')}`)
  return parts.length === 0 ? '' : ` (${parts.join('; ')})`
}
