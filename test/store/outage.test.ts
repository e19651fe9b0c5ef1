import t from 'tap'
import { BootError } from '../../lib/errors.js'
import { isTransientDbError, openPool, verifyConnection } from '../../lib/store/db.js'
import { kvGet, kvSet } from '../../lib/store/kv.js'
import { migrate } from '../../lib/store/migrate.js'
import { pingStore } from '../../lib/store/rpc.js'
import { startPrivatePostgres } from '../helpers/pg.js'

const server = await startPrivatePostgres()
t.teardown(() => server.destroy())
const sql = openPool({ postgres_url: server.url, max_connections: 3 })
t.teardown(() => sql.end({ timeout: 1 }))
await migrate(sql)


/**
 * The retry a caller of `isTransientDbError` would write (no production path retries on its own;
 * the test keeps it to check the classification on a real restart): run `fn`; if it fails with a transient error (see {@link isTransientDbError}), run it once more.
 * Covers the first query after a Postgres restart, which fails on the pool's stale connection.
 * Only for idempotent work: a statement that timed out may still have committed.
 */
async function withTransientRetry<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!isTransientDbError(err)) throw err
    return await fn()
  }
}

t.test('queries fail while Postgres is down and work again after it restarts', async (t) => {
  await kvSet(sql, 'survives', 'yes')
  t.equal(await pingStore(sql), true)

  await server.stop()
  const down = await kvGet(sql, 'survives').then(() => null, (e: unknown) => e)
  t.ok(down instanceof Error, 'query fails during the outage')
  t.ok(isTransientDbError(down), `classified transient (${String((down as { code?: string }).code)})`)
  const ping = await pingStore(sql).then(() => null, (e: unknown) => e)
  t.ok(isTransientDbError(ping), 'the readiness ping fails too')
  const boot = await verifyConnection(sql, 'gw.yaml').then(() => null, (e: unknown) => e)
  t.ok(boot instanceof BootError, 'a boot check would refuse to start')

  await server.start()
  // The pool's connections may still be the ones the shutdown ended: the first query on one of
  // them can fail with 57P01. One retry on a transient error is enough.
  t.equal(await withTransientRetry(async () => await kvGet(sql, 'survives')), 'yes', 'data survived the restart')
  t.equal(await pingStore(sql), true)
})

t.test('the first query after a restart may fail transiently; the retry succeeds', async (t) => {
  // Open every pooled connection so the restart leaves them all stale.
  await Promise.all([1, 2, 3].map(async () => await sql`select pg_sleep(0.05)`))
  await server.stop()
  await server.start()
  let attempts = 0
  const first = await sql`select 1 as one`.then(() => null, (e: unknown) => e)
  if (first !== null) t.ok(isTransientDbError(first), `first failure is transient (${String((first as { code?: string }).code)})`)
  const value = await withTransientRetry(async () => { attempts++; return await kvGet(sql, 'survives') })
  t.equal(value, 'yes')
  t.ok(attempts <= 2, 'at most one retry')
})

t.test('a backend ended by the server mid-query is transient and the retry succeeds', async (t) => {
  const killer = openPool({ postgres_url: server.url, max_connections: 1 })
  t.teardown(() => killer.end({ timeout: 1 }))
  const codes: unknown[] = []
  let attempts = 0
  const value = await withTransientRetry(async () => {
    attempts++
    if (attempts === 1) {
      const slow = sql`select pg_sleep(30) as weir_outage_probe`.then(() => null, (e: unknown) => e)
      for (let i = 0; i < 200; i++) {
        const [row] = await killer<Array<{ n: number }>>`
          select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where query like '%weir_outage_probe%' and pid <> pg_backend_pid()`
        if ((row?.n ?? 0) > 0) break
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const err = await slow
      codes.push((err as { code?: unknown } | null)?.code)
      t.ok(isTransientDbError(err), 'the failure is transient')
      if (err !== null) throw err
    }
    return await kvGet(sql, 'survives')
  })
  // postgres.js reports the server's 57P01 (terminating connection due to administrator command)
  // or, when the socket closes first, CONNECTION_CLOSED.
  t.equal(codes.length, 1)
  t.match(String(codes[0]), /^(57P01|CONNECTION_CLOSED)$/, `the first attempt was ended by the server (${String(codes[0])})`)
  t.equal(value, 'yes')
  t.equal(attempts, 2)
})

t.test('withTransientRetry does not retry other errors and gives up after one retry', async (t) => {
  let calls = 0
  await t.rejects(withTransientRetry(async () => { calls++; throw Object.assign(new Error('dup'), { code: '23505' }) }), { code: '23505' })
  t.equal(calls, 1)
  calls = 0
  await t.rejects(withTransientRetry(async () => { calls++; throw Object.assign(new Error('gone'), { code: 'ECONNREFUSED' }) }), { code: 'ECONNREFUSED' })
  t.equal(calls, 2)
})
