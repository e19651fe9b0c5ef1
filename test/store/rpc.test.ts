import t from 'tap'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { attachWorker, callPrimary, clearRpc, onEvent } from '../../lib/ipc.js'
import { openPool } from '../../lib/store/db.js'
import { kvDelete, kvGet, kvIncr, kvSet, kvTake, storePing } from '../../lib/store/client.js'
import { pingStore, registerStoreRpc } from '../../lib/store/rpc.js'
import { freePort, freshDatabase } from '../helpers/pg.js'
import { RpcArgumentError } from '../../lib/rpc-args.js'
import type { KvWorkerOut } from './fixtures/kv-events.js'

/** `callPrimary` without the map's types: what a wrong caller could still send at run time. */
const untypedCall = callPrimary as (name: string, args: unknown) => Promise<unknown>

const { sql } = await freshDatabase(t, { migrate: true })
registerStoreRpc(sql)
t.teardown(() => { clearRpc() })

t.test('client wrappers work in the main thread', async (t) => {
  t.equal(await storePing(), true)
  await kvSet('m:a', 'v1')
  t.equal(await kvGet('m:a'), 'v1')
  await kvSet('m:a', 'v2', 30)
  t.equal(await kvTake('m:a'), 'v2')
  t.equal(await kvTake('m:a'), null)
  await kvSet('m:b', 'x')
  t.equal(await kvDelete('m:b'), true)
  t.equal(await kvDelete('m:b'), false)
  const c = await kvIncr('m:rl', 60)
  t.equal(c.count, 1)
  t.ok(c.resetAt instanceof Date)
})

t.test('handlers check their arguments', async (t) => {
  await t.rejects(untypedCall('store.kvGet', {}), /key must be a non-empty string/)
  await t.rejects(untypedCall('store.kvGet', null), TypeError)
  await t.rejects(untypedCall('store.kvGet', null), /store.kvGet: arguments must be an object/)
  await t.rejects(untypedCall('store.kvSet', { key: 'k', value: 5 }), /value must be a string/)
  await t.rejects(untypedCall('store.kvSet', { key: 'k', value: 'v', ttlSeconds: '10' }), /ttlSeconds must be a number/)
  await t.rejects(untypedCall('store.kvIncr', { key: 'k' }), /windowSeconds is required/)
  await t.rejects(untypedCall('store.kvGet', { key: 'k', extra: 1 }), /store.kvGet: extra is not an argument/)
  t.type(await untypedCall('store.kvSet', { key: 'k', value: 5 }).catch((e: unknown) => e), RpcArgumentError)
  await t.rejects(callPrimary('store.kvSet', { key: 'k', value: 'v', ttlSeconds: -1 }), RangeError)
})

t.test('a worker thread reaches the store through the primary', async (t) => {
  const file = fileURLToPath(new URL('./fixtures/kv-worker.js', import.meta.url))
  const done = new Promise<KvWorkerOut>((resolve) => { const off = onEvent('kv-worker.done', (out: KvWorkerOut) => { off(); resolve(out) }) })
  const w = new Worker(file, { execArgv: ['--enable-source-maps'] }) // skip tap's loaders: faster start
  attachWorker(w)
  const out = await done
  await w.terminate()
  t.same(out, {
    ping: true,
    get: 'from-worker',
    counts: [1, 2],
    resetIsDate: true,
    sameReset: true,
    take: 'from-worker',
    takeAgain: null,
    deleted: true,
    error: 'store.kvGet: key must be a non-empty string',
    errorCode: 'ERR_RPC_ARGS',
  })
  t.equal(await kvGet('w:rl'), '2', 'the worker wrote to the primary database')
})

t.test('the ping fails when Postgres cannot be reached', async (t) => {
  const port = await freePort()
  const dead = openPool({ postgres_url: `postgres://a:b@127.0.0.1:${port}/x`, max_connections: 1 })
  t.teardown(() => dead.end({ timeout: 0 }))
  const err = await pingStore(dead).then(() => null, (e: unknown) => e as { code?: string })
  t.equal(err?.code, 'ECONNREFUSED')
})

t.test('the ping gives up after its deadline when the server does not answer', async (t) => {
  // A listening socket that never speaks: the connect succeeds, the startup reply never comes.
  const { createServer } = await import('node:net')
  const sockets: Array<import('node:net').Socket> = []
  const srv = createServer((s) => { sockets.push(s) })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); srv.close() })
  const port = (srv.address() as { port: number }).port
  const mute = openPool({ postgres_url: `postgres://a:b@127.0.0.1:${port}/x`, max_connections: 1 })
  t.teardown(() => mute.end({ timeout: 0 }))
  const started = Date.now()
  const err = await pingStore(mute).then(() => null, (e: unknown) => e as { code?: string, message?: string })
  t.equal(err?.code, 'ETIMEDOUT')
  t.ok(Date.now() - started < 4000, 'well before the connect timeout')
})

t.test('the ping leaves pooled sessions without a statement timeout', async (t) => {
  t.equal(await pingStore(sql), true)
  const rows = await Promise.all([1, 2, 3].map(async () => await sql<Array<{ v: string }>>`select current_setting('statement_timeout') as v`))
  t.same(rows.map((r) => r[0]?.v), ['0', '0', '0'], 'the 2 s limit was local to the ping')
})
