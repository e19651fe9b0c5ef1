import t from 'tap'
import { BootError } from '../../lib/errors.js'
import { setLogLevel, setLogSink } from '../../lib/log.js'
import { isTransientDbError, openPool, redactSecrets, verifyConnection } from '../../lib/store/db.js'
import { databaseUrl, freePort, freshDatabase } from '../helpers/pg.js'

/** Collect ops/audit lines while `fn` runs. */
async function captureLogs (fn: () => Promise<void>, level = 'info'): Promise<string[]> {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  setLogLevel(level)
  try { await fn() } finally { setLogSink(undefined); setLogLevel(undefined) }
  return lines
}

t.test('openPool sets the pool size and explicit timeouts', async (t) => {
  const sql = openPool({ postgres_url: 'postgres://u:p@127.0.0.1:1/db', max_connections: 7 })
  t.teardown(() => sql.end({ timeout: 0 }))
  t.equal(sql.options.max, 7)
  t.equal(sql.options.connect_timeout, 5)
  t.equal(sql.options.idle_timeout, 60)
  t.equal(sql.options.max_lifetime, 1800)
  t.equal(sql.options.user, 'u')
  t.equal(sql.options.pass, 'p')
})

t.test('username and password from the config override the URL', async (t) => {
  const sql = openPool({ postgres_url: 'postgres://u:p@127.0.0.1:1/db', username: 'other', password: 'secret', max_connections: 1 })
  t.teardown(() => sql.end({ timeout: 0 }))
  t.equal(sql.options.user, 'other')
  t.equal(sql.options.pass, 'secret')
})

t.test('verifyConnection succeeds against a live server and notices go to the debug log', async (t) => {
  const { sql } = await freshDatabase(t)
  const lines = await captureLogs(async () => {
    await verifyConnection(sql, '/etc/weir/gateway.yaml')
    await sql`do $$ begin raise notice 'hello from plpgsql'; end $$`
  }, 'debug')
  t.ok(lines.some((l) => l.includes(' debug ') && l.includes('hello from plpgsql')), 'notice logged at debug')
  t.notOk(lines.some((l) => l.includes(' warn ')), 'no version warning on a current server')
})

t.test('verifyConnection with wrong credentials says why and hides the password', async (t) => {
  const u = new URL(databaseUrl())
  u.password = 'Wr0ng-Pa55word'
  const sql = openPool({ postgres_url: u.toString(), max_connections: 1 })
  t.teardown(() => sql.end({ timeout: 0 }))
  const err = await verifyConnection(sql, 'gw.yaml').then(() => null, (e: unknown) => e)
  if (err === null) {
    // A DATABASE_URL server with `trust` authentication accepts any password; nothing to check.
    t.pass('the server in DATABASE_URL does not check passwords', { skip: 'trust authentication' })
    return
  }
  t.ok(err instanceof BootError, 'BootError')
  const msg = (err as BootError).lines.join('\n')
  t.match(msg, /^could not connect to Postgres: .*password authentication failed.*\. Check store\.postgres_url in gw\.yaml$/)
  t.notMatch(msg, 'Wr0ng-Pa55word')
})

t.test('verifyConnection against a port with nothing listening fails clearly', async (t) => {
  const port = await freePort()
  const sql = openPool({ postgres_url: `postgres://weir:hunter2hunter2@127.0.0.1:${port}/weir`, max_connections: 1 })
  t.teardown(() => sql.end({ timeout: 0 }))
  const err = await verifyConnection(sql, '/srv/gateway.yaml').then(() => null, (e: unknown) => e)
  t.ok(err instanceof BootError)
  const be = err as BootError
  t.equal(be.exitCode, 1)
  t.equal(be.lines.length, 1)
  t.match(be.lines[0], /^could not connect to Postgres: .*ECONNREFUSED.*\. Check store\.postgres_url in \/srv\/gateway\.yaml$/)
  t.notMatch(be.message, 'hunter2')
})

t.test('redaction removes passwords from messages', async (t) => {
  t.equal(redactSecrets('failed for pw=abc123 at postgres://a:abc123@h/d', ['abc123']), 'failed for pw=*** at postgres://a:***@h/d')
  t.equal(redactSecrets('password authentication failed', ['pa']), 'password authentication failed', 'tiny secrets do not garble text')
})

t.test('isTransientDbError classifies outages, not mistakes', async (t) => {
  const e = (code: unknown): Error => Object.assign(new Error('x'), { code })
  for (const code of ['57P01', '57P02', '57P03', '08000', '08003', '08006', '08P01', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'ECONNREFUSED', 'ECONNRESET', 'CONNECT_TIMEOUT', 'ETIMEDOUT', '57014']) {
    t.ok(isTransientDbError(e(code)), `${code} is transient`)
  }
  for (const code of ['23505', '42P01', '42501', '28P01', '22P02', '3D000', 'ENOTFOUND', undefined, 57014]) {
    t.notOk(isTransientDbError(e(code)), `${String(code)} is not transient`)
  }
  t.ok(isTransientDbError(new Error('wrapped', { cause: e('57P01') })), 'looks into cause')
  t.notOk(isTransientDbError(null))
  t.notOk(isTransientDbError('57P01'))
})

t.test('a real statement timeout and a real refused connection are transient', async (t) => {
  const { sql } = await freshDatabase(t)
  const timeout = await sql.begin(async (tx) => {
    await tx`set local statement_timeout = 50`
    await tx`select pg_sleep(1)`
  }).then(() => null, (err: unknown) => err)
  t.equal((timeout as { code?: string }).code, '57014')
  t.ok(isTransientDbError(timeout))
  const port = await freePort()
  const dead = openPool({ postgres_url: `postgres://a:b@127.0.0.1:${port}/x`, max_connections: 1 })
  t.teardown(() => dead.end({ timeout: 0 }))
  const refused = await dead`select 1`.then(() => null, (err: unknown) => err)
  t.ok(isTransientDbError(refused), String((refused as { code?: string }).code))
})

t.test('verifyConnection warns about servers older than 14', async (t) => {
  // A stand-in for the pool that answers the version probe like a PostgreSQL 13 server would.
  const old = Object.assign(async () => [{ v: '130011' }], { options: { pass: 'x' } }) as unknown as Parameters<typeof verifyConnection>[0]
  const lines = await captureLogs(async () => { await verifyConnection(old, 'gw.yaml') })
  t.ok(lines.some((l) => / warn PostgreSQL server version 13 is older than 14/.test(l)))
})

t.test('store.connect_timeout_seconds bounds the boot check against a server that never answers', async (t) => {
  const { createServer } = await import('node:net')
  const sockets: Array<import('node:net').Socket> = []
  const silent = createServer((s) => { sockets.push(s) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); silent.close() })
  const port = (silent.address() as { port: number }).port
  const sql = openPool({ postgres_url: `postgres://weir:pw@127.0.0.1:${port}/weir`, max_connections: 1, connect_timeout_seconds: 1 })
  t.teardown(() => sql.end({ timeout: 0 }))
  const t0 = Date.now()
  const err = await verifyConnection(sql, 'gw.yaml').then(() => null, (e: unknown) => e)
  t.ok(err instanceof BootError)
  t.ok(Date.now() - t0 < 4000, `gave up after ${Date.now() - t0} ms, not the 5 s default`)
})
