/**
 * The store's RPCs (lib/ipc.ts map): the readiness ping and the kv operations. Handlers:
 * lib/store/rpc.ts (primary); callers: lib/store/client.ts (workers).
 */
import { object } from 'superstruct'
import { rpc } from '../ipc.js'
import { finite, nonEmpty, optional, text } from '../rpc-args.js'
import type { Counter } from './kv.js'

const key = object({ key: nonEmpty })

export const STORE_RPC = {
  'store.ping': rpc<true>()(object({})),
  'store.kvGet': rpc<string | null>()(key),
  'store.kvSet': rpc<null>()(object({ key: nonEmpty, value: text, ttlSeconds: optional(finite) })),
  'store.kvDelete': rpc<boolean>()(key),
  'store.kvTake': rpc<string | null>()(key),
  'store.kvIncr': rpc<Counter>()(object({ key: nonEmpty, windowSeconds: finite })),
} as const

type StoreRpc = typeof STORE_RPC
declare module '../ipc.js' { interface RpcMap extends StoreRpc {} } // eslint-disable-line @typescript-eslint/no-empty-interface
