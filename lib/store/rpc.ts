/**
 * Primary-side RPC handlers for the store: the readiness ping and the kv operations that worker
 * threads call through lib/store/client.ts.
 */
import { registerRpc } from '../ipc.js'
import type { Sql } from './db.js'
import { kvDelete, kvGet, kvIncr, kvSet, kvTake } from './kv.js'

/** Server-side limit for the readiness ping's `select 1`. */
const PING_STATEMENT_TIMEOUT_MS = 2000
/** The ping gives up a little after that, covering a connect that hangs. */
const PING_DEADLINE_MS = 2500

/** Arguments carried by the kv RPCs. */
interface KvArgs { key?: unknown, value?: unknown, ttlSeconds?: unknown, windowSeconds?: unknown }

function keyOf (args: KvArgs): string {
  if (typeof args?.key !== 'string' || args.key === '') throw new TypeError('kv: key must be a non-empty string')
  return args.key
}

function optionalNumber (v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number') throw new TypeError(`kv: ${what} must be a number`)
  return v
}

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

/** Register `store.ping` and the `kv.*` handlers against `sql`. Call once in the primary. */
export function registerStoreRpc (sql: Sql): void {
  registerRpc({
    'store.ping': async () => await pingStore(sql),
    'kv.get': async (a: KvArgs) => await kvGet(sql, keyOf(a)),
    'kv.set': async (a: KvArgs) => {
      if (typeof a?.value !== 'string') throw new TypeError('kv.set: value must be a string')
      await kvSet(sql, keyOf(a), a.value, optionalNumber(a.ttlSeconds, 'ttlSeconds'))
      return null
    },
    'kv.delete': async (a: KvArgs) => await kvDelete(sql, keyOf(a)),
    'kv.take': async (a: KvArgs) => await kvTake(sql, keyOf(a)),
    'kv.incr': async (a: KvArgs) => {
      const w = optionalNumber(a.windowSeconds, 'windowSeconds')
      if (w === undefined) throw new TypeError('kv.incr: windowSeconds is required')
      return await kvIncr(sql, keyOf(a), w)
    },
  })
}
