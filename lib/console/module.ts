/**
 * The console's primary module (workers/primary-modules.ts): registers `console.query`, which
 * answers the console's own read-only queries (lib/console/primary.ts: overview, people, audit,
 * upstream figures) for a worker that has already checked the browser session and its role
 * (lib/console/api.ts), and keeps the per-upstream figures the workers' metric snapshots carry
 * (lib/console/stats.ts). Changes (caps, sign-outs) do not come here: the console sends them as
 * ordinary admin calls, so they are checked and audited by the admin module exactly as the admin
 * API's. Starts only with an `admin:` block, like the admin API. Takes a reloaded config (the
 * upstream pools reload live, and the pool report follows the pools now in force).
 */
import { registerRpc } from '../ipc.js'
import type { LoadedConfig } from '../config/load.js'
import type { Sql } from '../store/db.js'
import { handleConsole } from './primary.js'
import { CONSOLE_RPC } from './rpc-map.js'
import { watchConsoleStats } from './stats.js'

export function startConsole (ctx: { sql: Sql, loaded: LoadedConfig }): { stop: () => void, reload: (next: LoadedConfig) => void } | undefined {
  if (ctx.loaded.config.admin === undefined) return undefined
  let loaded = ctx.loaded
  const off = watchConsoleStats()
  registerRpc(CONSOLE_RPC, { 'console.query': async (a) => await handleConsole(ctx.sql, a, () => loaded.config.upstream_pools) })
  return { stop: off, reload: (next) => { loaded = next } }
}
