/**
 * What every HTTP worker thread starts with: the frozen config and what the primary learned at
 * boot (e.g. the identity provider's discovered metadata), delivered through `workerData`.
 */
import type { Config } from './config/schema.js'
import type { OidcMetadata } from './auth/discovery.js'
import type { BodyKnobs } from './http/body.js'
import type { RuntimeEnv } from './runtime-env.js'

/** Facts the primary established during boot, shared with every worker. */
export interface BootInfo {
  /** The identity provider's discovered metadata; null when sign-in is not configured. */
  readonly oidc: OidcMetadata | null
  /** The port actually bound (differs from config when `listen.port` is 0). */
  readonly port: number
  /** Body-read limits from the environment (`WEIR_BODY_*`, lib/http/body.ts), validated at boot. */
  readonly bodies: BodyKnobs
  /** Tuning knobs from the environment, read once by the primary (lib/runtime-env.ts). */
  readonly runtime: RuntimeEnv
}

export interface WorkerContext {
  readonly config: Readonly<Config>
  readonly boot: BootInfo
  /** 0-based worker index, for logs. */
  readonly index: number
}

/** Data posted to a worker thread at spawn. */
export interface WorkerInit {
  readonly config: Readonly<Config>
  readonly boot: BootInfo
  readonly index: number
  readonly logLevel: string
  /** The config generation `config` belongs to (1 at boot; a reload increments it). */
  readonly generation: number
}

/** Recursively freeze a plain object graph (config arrives unfrozen through structured clone). */
export function deepFreeze<T> (v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k])
  }
  return v
}
