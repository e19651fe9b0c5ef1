/**
 * The primary's one Piscina pool, shared by every subsystem that has CPU-bound batch work
 * (telemetry decoding and re-encoding, metering aggregation).
 *
 * Why one pool: HTTP workers already occupy every core, so each extra thread competes with the
 * hot path. A single small pool (at most two threads) bounds that cost whatever number of
 * subsystems use it. Tasks name their own file and export (`run(file, name, task)`), so the pool
 * needs no central task registry: a subsystem keeps its task file next to its code.
 *
 * Rules for users:
 *   - Call `acquirePrimaryPool()` in a primary module's start and `release()` in its stop; the
 *     pool is created on first acquire and destroyed when the last user releases it.
 *   - Batch: a task round trip costs tens of microseconds, so send one task per batch, never one
 *     per record.
 *   - The queue is bounded. `run()` rejects with `PoolFull` at once when it is full; treat that as
 *     "drop and count" or "try the next flush", never as a reason to wait.
 *   - Tasks must be synchronous CPU work or settle their promises quickly; no database I/O
 *     (the primary owns Postgres: return rows and let the caller write them).
 *   - Transfer large `ArrayBuffer`s with `transferList`; return one with `Piscina.move()`.
 */
import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'

/** Most threads the pool ever runs. */
export const POOL_MAX_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1))
/** Most tasks waiting for a thread; beyond this `run()` rejects with `PoolFull`. */
export const POOL_MAX_QUEUE = 256
/** An idle thread exits after this long (threads start again on demand). */
export const POOL_IDLE_MS = 30_000
/**
 * Young generation of each pool thread, MiB (V8 splits it into two semi-spaces and a large-object
 * share: 6 gives 2 MiB semi-spaces, where V8's default lets each grow to 16 MiB). A task's garbage
 * is one batch's decoded records, dead when the task returns, and nothing on this thread waits on
 * a request: more, cheaper scavenges cost it no latency, while a grown young generation stays
 * resident for as long as the thread lives (minutes under steady metering). The old generation
 * keeps V8's default: a batch's size is bounded by the callers, and a lower cap would turn an
 * unusually large batch into a killed thread instead of a slower one.
 */
export const POOL_YOUNG_GENERATION_MB = 6

/** The pool's queue is full: the task was not accepted. */
export class PoolFull extends Error {
  readonly code = 'POOL_FULL'
  constructor () { super('the primary worker pool queue is full'); this.name = 'PoolFull' }
}

export interface PoolStats {
  /** Live threads. */
  readonly threads: number
  /** Tasks waiting for a thread. */
  readonly queued: number
  /** Tasks finished since the pool started. */
  readonly completed: number
  /** Fraction of capacity used since start (Piscina's utilization). */
  readonly utilization: number
}

export interface PoolLease {
  /**
   * Run export `name` of the task file `file` (absolute path of a compiled .js file) with `task`.
   * Rejects with `PoolFull` when the queue is full, or with the task's own error.
   */
  run: <R = unknown>(file: string, name: string, task: unknown, transferList?: ArrayBuffer[]) => Promise<R>
  /** Give the lease back; the last release destroys the pool. Idempotent. */
  release: () => Promise<void>
}

let pool: Piscina | null = null
let users = 0

function create (): Piscina {
  return new Piscina({
    minThreads: 0,
    maxThreads: POOL_MAX_THREADS,
    idleTimeout: POOL_IDLE_MS,
    maxQueue: POOL_MAX_QUEUE,
    // Tasks may be async; parking threads with Atomics.wait would stall their promises.
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: POOL_YOUNG_GENERATION_MB },
  })
}

/** Take a lease on the primary pool (creating it if needed). */
export function acquirePrimaryPool (): PoolLease {
  pool ??= create()
  users++
  const p = pool
  let released = false
  return {
    run: async <R>(file: string, name: string, task: unknown, transferList?: ArrayBuffer[]): Promise<R> => {
      if (released) throw new Error('pool lease already released')
      // Check capacity first: Piscina's own rejection arrives a tick later and reads as an error.
      if (p.queueSize >= POOL_MAX_QUEUE) throw new PoolFull()
      try {
        return await p.run(task, { filename: file, name, ...(transferList !== undefined ? { transferList } : {}) }) as R
      } catch (err) {
        if (err instanceof Error && /queue is at limit/i.test(err.message)) throw new PoolFull()
        throw err
      }
    },
    release: async () => {
      if (released) return
      released = true
      users--
      if (users === 0 && pool === p) {
        pool = null
        await p.destroy()
      }
    },
  }
}

/** Current numbers for the gateway's own metrics; null while no pool exists. */
export function primaryPoolStats (): PoolStats | null {
  if (pool === null) return null
  return { threads: pool.threads.length, queued: pool.queueSize, completed: pool.completed, utilization: pool.utilization }
}
