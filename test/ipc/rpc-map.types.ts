/**
 * Compile-time checks of the typed RPC map, built by `tsc` with the rest of the suite (never run):
 * every `@ts-expect-error` below must be an error, or the build fails. A wrong name, a wrong or
 * missing argument, a wrong reply use, a handler that does not match its declaration, a mapped
 * event with the wrong payload, and an event name that no feature maps (every event is mapped).
 */
import { broadcast, callPrimary, onEvent, onWorkerJoin, registerRpc, sendToPrimary } from '../../lib/ipc.js'
import { STORE_RPC } from '../../lib/store/rpc-map.js'

export async function typeChecks (): Promise<void> {
  // @ts-expect-error: no RPC has this name
  await callPrimary('kv.get', { key: 'k' })
  // @ts-expect-error: `key` is a string
  await callPrimary('store.kvGet', { key: 1 })
  // @ts-expect-error: `windowSeconds` is required
  await callPrimary('store.kvIncr', { key: 'k' })
  // @ts-expect-error: `family` is not an argument of session.refreshRevoked
  await callPrimary('session.refreshRevoked', { hash: 'h', family: 'f' })
  const v = await callPrimary('store.kvGet', { key: 'k' })
  // @ts-expect-error: the reply is string | null
  v.toFixed()
  const standing = await callPrimary('session.refreshStanding', { hashes: ['a'] })
  const revoked: boolean = standing.revoked
  void revoked
  registerRpc(STORE_RPC, {
    'store.ping': () => true as const,
    // @ts-expect-error: the reply must be string | null
    'store.kvGet': () => 5,
    'store.kvSet': () => null,
    'store.kvDelete': () => true,
    'store.kvTake': () => null,
    'store.kvIncr': () => ({ count: 1, resetAt: new Date() }),
  })
  // @ts-expect-error: every RPC of the table needs its handler
  registerRpc(STORE_RPC, { 'store.ping': () => true as const })

  // Mapped events check their payloads.
  // @ts-expect-error: spend.caps carries a CapsMessage
  broadcast('spend.caps', { version: 'one', rows: [] })
  // @ts-expect-error: spend.exit carries { list }
  sendToPrimary('spend.exit', [])
  onEvent('spend.identity', (s) => {
    // @ts-expect-error: a Seen has no `id`
    void s.id
  })
  broadcast('spend.caps', { version: 1, rows: [] })
  // @ts-expect-error: config.reload carries { config, generation }
  broadcast('config.reload', { generation: 2 })
  // @ts-expect-error: a reload status has every field
  onWorkerJoin((send) => { send('config.reload-status', { ok: true }) })

  // An event name that no feature maps is an error wherever it is used (no untyped fallback).
  // @ts-expect-error: not a mapped event
  broadcast('config.reloaded', {})
  // @ts-expect-error: not a mapped event
  sendToPrimary('telemetry.body', {})
  // @ts-expect-error: not a mapped event
  onEvent('spend.cap', () => {})
  // @ts-expect-error: not a mapped event
  onWorkerJoin((send) => { send('session.revoke', []) })
  const name: string = 'spend.caps'
  // @ts-expect-error: a name must be a known literal, not any string
  onEvent(name, () => {})
}
