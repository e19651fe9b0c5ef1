/**
 * Store operations for code that may run in a worker thread. Each call travels to the primary,
 * which owns the pool (lib/ipc.ts); in the main thread the handler runs directly. The handlers are
 * registered by `registerStoreRpc` in lib/store/rpc.ts.
 */
import { callPrimary } from '../ipc.js'
import type { Counter } from './kv.js'

export type { Counter } from './kv.js'

/** Resolves true when Postgres answered `select 1`; rejects otherwise (for `/readyz`). */
export async function storePing (): Promise<boolean> {
  return await callPrimary('store.ping', {})
}

/** The value under `key`, or null when it is missing or expired. */
export async function kvGet (key: string): Promise<string | null> {
  return await callPrimary('store.kvGet', { key })
}

/** Store `value` under `key`; without `ttlSeconds` it never expires. */
export async function kvSet (key: string, value: string, ttlSeconds?: number): Promise<void> {
  await callPrimary('store.kvSet', { key, value, ttlSeconds })
}

/** Remove `key`; true when a live row was removed. */
export async function kvDelete (key: string): Promise<boolean> {
  return await callPrimary('store.kvDelete', { key })
}

/** Read and remove `key` atomically; null when missing or expired. */
export async function kvTake (key: string): Promise<string | null> {
  return await callPrimary('store.kvTake', { key })
}

/** Count one hit in the fixed window of `windowSeconds` for `key`. */
export async function kvIncr (key: string, windowSeconds: number): Promise<Counter> {
  return await callPrimary('store.kvIncr', { key, windowSeconds })
}
