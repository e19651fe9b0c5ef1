/**
 * Tuning knobs taken from the environment, read once into one frozen object.
 *
 * The primary reads them at boot (`runtimeEnv()`, first call) and hands the same object to every
 * HTTP worker in `BootInfo.runtime` (lib/worker-context.ts); a worker installs it with
 * `setRuntimeEnv` before it serves, so every thread of a process runs with the primary's values.
 * Code that needs a knob calls `runtimeEnv()` when it needs it, never `process.env` at module load.
 *
 *   CLAUDE_GATEWAY_LOG_LEVEL  ops log threshold (lib/log.ts); unknown values mean `info`
 *   WEIR_METER_FLUSH_MS       worker usage outbox and primary meter flush interval (default 100)
 *   WEIR_SSE_PING_MS          silence before a gateway SSE ping (default 15 000; lib/proxy/bridge.ts)
 *
 * Numbers that are not positive fall back to their default, as before.
 */

export interface RuntimeEnv {
  /** The raw `CLAUDE_GATEWAY_LOG_LEVEL` (lib/log.ts `setLogLevel` resolves unknown values). */
  readonly logLevel: string | undefined
  readonly meterFlushMs: number
  readonly ssePingMs: number
}

export const DEFAULT_METER_FLUSH_MS = 100
export const DEFAULT_SSE_PING_MS = 15_000

const positive = (v: string | undefined, fallback: number): number => Number(v) > 0 ? Number(v) : fallback

/** Read the knobs from `env` into a frozen object (pure: tests pass their own env). */
export function readRuntimeEnv (env: NodeJS.ProcessEnv): RuntimeEnv {
  return Object.freeze({
    logLevel: env.CLAUDE_GATEWAY_LOG_LEVEL,
    meterFlushMs: positive(env.WEIR_METER_FLUSH_MS, DEFAULT_METER_FLUSH_MS),
    ssePingMs: positive(env.WEIR_SSE_PING_MS, DEFAULT_SSE_PING_MS),
  })
}

let current: RuntimeEnv | null = null

/** This thread's knobs: those installed with `setRuntimeEnv`, else `process.env` read once. */
export function runtimeEnv (): RuntimeEnv {
  current ??= readRuntimeEnv(process.env)
  return current
}

/** Install the knobs the primary read (worker threads, from `BootInfo.runtime`). */
export function setRuntimeEnv (r: RuntimeEnv): void {
  current = Object.isFrozen(r) ? r : Object.freeze({ ...r })
}
