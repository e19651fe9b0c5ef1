/**
 * Primary-side RPC handlers for the store: the readiness ping and the kv operations that worker
 * threads call through lib/store/client.ts (names and argument structs: lib/store/rpc-map.ts).
 */
import { registerRpc } from '../ipc.js'
import type { Sql } from './db.js'
import { kvDelete, kvGet, kvIncr, kvSet, kvTake } from './kv.js'
import { STORE_RPC } from './rpc-map.js'

/** Server-side limit for the readiness ping's `select 1`. */
const PING_STATEMENT_TIMEOUT_MS = 2000
/** The ping gives up a little after that, covering a connect that hangs. */
const PING_DEADLINE_MS = 2500

/**
 * `select 1` under a 2 s statement timeout. Resolves true, or throws (with the driver's error
 * code, or `ETIMEDOUT` when no answer came in time).
 */
export async function pingStore (sql: Sql): Promise<true> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(Object.assign(new Error(`store ping: no answer in ${PING_DEADLINE_MS} ms`), { code: 'ETIMEDOUT' }))
    }, PING_DEADLINE_MS)
  })
  const probe = sql.begin(async (tx) => {
    await tx`select set_config('statement_timeout', ${String(PING_STATEMENT_TIMEOUT_MS)}, true)`
    await tx`select 1`
  })
  try {
    await Promise.race([probe, deadline])
    return true
  } finally {
    clearTimeout(timer)
    probe.catch(() => undefined) // a late failure after the deadline must not go unhandled
  }
}

/**
 * Register the store's RPCs (lib/store/rpc-map.ts) against `sql`. Call once in the primary. Their
 * arguments are checked by the map's structs before a handler runs.
 */
export function registerStoreRpc (sql: Sql): void {
  registerRpc(STORE_RPC, {
    'store.ping': async () => await pingStore(sql),
    'store.kvGet': async (a) => await kvGet(sql, a.key),
    'store.kvSet': async (a) => { await kvSet(sql, a.key, a.value, a.ttlSeconds); return null },
    'store.kvDelete': async (a) => await kvDelete(sql, a.key),
    'store.kvTake': async (a) => await kvTake(sql, a.key),
    'store.kvIncr': async (a) => await kvIncr(sql, a.key, a.windowSeconds),
  })
}
