/**
 * Subsystems that run in the primary thread next to the database pool: each registers its RPC
 * handlers (lib/ipc.ts), listens for Postgres notifications, runs timers or worker pools, and is
 * stopped in reverse order at shutdown (after the HTTP workers drained). A subsystem adds itself
 * by appending one line to `primaryModules()`; a module that needs what an earlier one started
 * (admin reads spend's live cap table) gets it through a variable of that one start.
 */
import type { Sql } from 'postgres'
import { startAdmin } from '../lib/admin/module.js'
import { startConsole } from '../lib/console/module.js'
import type { LoadedConfig } from '../lib/config/load.js'
import { startSignIn } from '../lib/session/primary.js'
import { guardLoadTestDatabase } from '../lib/spend/load-test-guard.js'
import { startSpend, type SpendModule } from '../lib/spend/module.js'
import { startTelemetry } from '../lib/telemetry/module.js'
import type { BootInfo } from '../lib/worker-context.js'

export interface PrimaryContext {
  readonly sql: Sql
  readonly loaded: LoadedConfig
  readonly boot: BootInfo
}

/**
 * What a started module leaves behind: how to stop it (flush, close listeners, end pools), and,
 * for a module with settings that apply live, how to take a reloaded config. `reload` runs in
 * the primary before the workers get the new generation; it must switch synchronously and never
 * throw (what it cannot apply must be in lib/config/diff.ts RESTART_KEYS instead).
 */
export interface Running {
  stop (): Promise<void> | void
  reload? (loaded: LoadedConfig): void
}

export type PrimaryModule = (ctx: PrimaryContext) => Promise<Running | undefined> | Running | undefined

/** The modules of one gateway start, in start order. */
export function primaryModules (): ReadonlyArray<{ name: string, start: PrimaryModule }> {
  let spend: SpendModule | undefined
  return [
    { name: 'load-test guard', start: guardLoadTestDatabase },
    { name: 'telemetry', start: startTelemetry },
    { name: 'sign-in', start: startSignIn },
    { name: 'spend', start: async (ctx) => (spend = await startSpend(ctx)) },
    { name: 'admin', start: (ctx) => startAdmin(ctx, spend?.caps) },
    { name: 'console', start: startConsole },
  ]
}
