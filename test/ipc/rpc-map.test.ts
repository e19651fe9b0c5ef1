/**
 * The typed RPC map (lib/ipc.ts, lib/rpc-args.ts): arguments are checked by the struct each
 * feature declares, before the handler runs, in the main thread and across a real worker port.
 * The compile-time half (a wrong name, argument or reply fails `tsc`) is rpc-map.types.ts beside.
 */
import t from 'tap'
import { MessageChannel, type Worker } from 'node:worker_threads'
import { attachWorker, callPrimary, clearRpc, registerRpc, startWorkerIpc } from '../../lib/ipc.js'
import { RpcArgumentError, checkArgs, finite, nonEmpty, positive } from '../../lib/rpc-args.js'
import { STORE_RPC } from '../../lib/store/rpc-map.js'
import { SESSION_RPC } from '../../lib/session/rpc-map.js'
import { SPEND_RPC_MAP } from '../../lib/spend/rpc-map.js'
import { ADMIN_RPC } from '../../lib/admin/rpc-map.js'

const untypedCall = callPrimary as (name: string, args: unknown) => Promise<unknown>

t.test('a bad argument is refused by the derived check and the handler never runs', async (t) => {
  t.teardown(clearRpc)
  const seen: unknown[] = []
  registerRpc(STORE_RPC, {
    'store.ping': () => true as const,
    'store.kvGet': (a) => { seen.push(a); return 'v' },
    'store.kvSet': () => null,
    'store.kvDelete': () => true,
    'store.kvTake': () => null,
    'store.kvIncr': (a) => { seen.push(a); return { count: 1, resetAt: new Date(0) } },
  })
  t.equal(await callPrimary('store.kvGet', { key: 'k' }), 'v', 'a good call reaches the handler')
  const err = await untypedCall('store.kvGet', { key: 7 }).then(() => null, (e: unknown) => e)
  t.type(err, RpcArgumentError)
  t.type(err, TypeError, 'still a TypeError, as callers expect')
  t.equal((err as RpcArgumentError).code, 'ERR_RPC_ARGS')
  t.equal((err as Error).message, 'store.kvGet: key must be a non-empty string')
  await t.rejects(untypedCall('store.kvIncr', { key: 'k', windowSeconds: Number.NaN }), /store.kvIncr: windowSeconds must be a number/)
  await t.rejects(untypedCall('store.kvIncr', { key: 'k', windowSeconds: 60, extra: true }), /store.kvIncr: extra is not an argument/)
  await t.rejects(untypedCall('store.kvIncr', 'k'), /store.kvIncr: arguments must be an object/)
  t.same(seen, [{ key: 'k' }], 'only the good call ran a handler')
  await t.rejects(untypedCall('store.nope', {}), /no handler for store.nope/)
})

t.test('the check also guards calls that come over a worker port', async (t) => {
  t.teardown(clearRpc)
  let ran = 0
  registerRpc(SESSION_RPC, {
    'session.kvAdd': () => { ran++; return true },
    'session.kvSwap': () => true,
    'session.recordPrincipal': () => null,
    'session.revoke': () => null,
    'session.signOutSubject': () => ({ families: 0, not_before: 0 }),
    'session.revokeRefresh': () => null,
    'session.refreshRevoked': () => false,
    'session.refreshStanding': (a) => ({ revoked: a.hashes.length > 2, family: null }),
    'session.link': () => null,
  })
  // Real thread messaging without a worker script: a MessageChannel stands in for parentPort.
  const { port1, port2 } = new MessageChannel()
  t.teardown(() => { port1.close() })
  const fakeWorker = port2 as unknown as Worker
  attachWorker(fakeWorker)
  startWorkerIpc(port1)
  t.teardown(() => { startWorkerIpc(null) })
  t.same(await callPrimary('session.refreshStanding', { hashes: ['a', 'b', 'c'] }), { revoked: true, family: null })
  const err = await untypedCall('session.refreshStanding', { hashes: ['a', 'b', 'c', 'd', 'e'] }).then(() => null, (e: unknown) => e as Error & { code?: string })
  t.match(err?.message, /session.refreshStanding: hashes/, 'five hashes are refused (1 to 4)')
  t.equal(err?.code, 'ERR_RPC_ARGS', 'the refusal keeps its code across the port')
  await t.rejects(untypedCall('session.kvAdd', { key: 'k', value: 'v', ttlSeconds: 0 }), /session.kvAdd: ttlSeconds must be a positive number/)
  t.equal(ran, 0)
})

t.test('every declared RPC has a struct, and the struct helpers say what they want', async (t) => {
  for (const table of [STORE_RPC, SESSION_RPC, SPEND_RPC_MAP, ADMIN_RPC]) {
    for (const [name, spec] of Object.entries(table)) {
      t.match(name, /^(store|session|spend|admin)\.[a-z][A-Za-z]*$/, `${name} is feature.verb`)
      t.type(spec.args.validate, 'function')
    }
  }
  t.throws(() => checkArgs('x.y', finite, '1'), { message: 'x.y: the argument must be a number' })
  t.throws(() => checkArgs('x.y', finite, undefined), { message: 'x.y: the argument is required' })
  t.equal(checkArgs('x.y', positive, 2), 2)
  t.ok((() => { try { checkArgs('x.y', nonEmpty, ''); return false } catch (e) { return e instanceof RpcArgumentError } })(), 'an empty key throws RpcArgumentError')
})
