/**
 * Boot-time schema migrations.
 *
 * `migrations/NNNN_name.sql` files are append-only: a released file is never edited, a change is a
 * new file with the next number. At boot the primary takes a session advisory lock on one
 * dedicated connection, reads which versions `_migrations` records, and applies each missing known
 * version in order, each in its own transaction together with its `_migrations` row. Replicas that
 * boot together queue on the lock; the later ones find everything applied and do nothing.
 *
 * Versions recorded in `_migrations` that this binary has no file for are ignored, so rolling back
 * to an older release keeps working against a database a newer release has migrated.
 *
 * A file may hold several statements; it runs inside one transaction, so statements that refuse
 * to run in one (CREATE INDEX CONCURRENTLY, VACUUM) cannot be used. Write DDL with IF NOT EXISTS so
 * a schema an operator pre-created is accepted.
 *
 * Versions 1–8 create the same tables, columns and index names as the reference gateway's first
 * eight migrations, so a database it created can be adopted: those versions are already recorded
 * there and Weir's later migrations apply on top.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BootError } from '../errors.js'
import { ops, describeError } from '../log.js'
import { MIGRATIONS_DIR } from '../version.js'
import type { Sql } from './db.js'

/**
 * Advisory lock key held while migrating. It is the key the reference gateway uses, so a Weir
 * replica and a reference replica pointed at the same database never migrate at the same time.
 */
export const MIGRATION_LOCK_KEY = 6775156

/** One migration file. */
export interface Migration {
  version: number
  /** The part of the file name after the number, e.g. `kv`. */
  name: string
  /** Absolute path of the SQL file. */
  file: string
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/

/**
 * The migrations in `dir` (default: the package's `migrations/`), sorted by version. Files that do
 * not look like `NNNN_name.sql` are ignored; two files with one version number are an error.
 */
export function listMigrations (dir: string = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = []
  for (const entry of readdirSync(dir)) {
    const m = FILE_RE.exec(entry)
    if (m === null) continue
    const version = Number(m[1])
    if (version < 1) throw new Error(`migration ${entry}: versions start at 0001`)
    out.push({ version, name: m[2] as string, file: join(dir, entry) })
  }
  out.sort((a, b) => a.version - b.version)
  for (let i = 1; i < out.length; i++) {
    const prev = out[i - 1] as Migration
    const cur = out[i] as Migration
    if (prev.version === cur.version) throw new Error(`two migrations share version ${cur.version}: ${prev.file} and ${cur.file}`)
  }
  return out
}

/** Hint appended when the role may not run DDL. */
function permissionHint (err: unknown): string[] {
  return (err as { code?: unknown }).code === '42501'
    ? ['the database role may not create tables: grant it CREATE on the schema for boots that add migrations, or pre-create the schema (including _migrations) with an admin role']
    : []
}

/**
 * Bring the database up to date. Returns the versions applied by this call (empty when another
 * replica got there first or nothing was pending). Throws a BootError naming the failed file; that
 * migration's changes are rolled back, earlier ones stay applied.
 */
export async function migrate (sql: Sql, opts: { dir?: string } = {}): Promise<number[]> {
  const known = listMigrations(opts.dir)
  let conn: Awaited<ReturnType<Sql['reserve']>>
  try {
    conn = await sql.reserve()
  } catch (err) {
    throw new BootError([`database migrations failed: ${describeError(err)}`], 1, { cause: err })
  }
  let locked = false
  try {
    const [first] = await conn<Array<{ ok: boolean }>>`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as ok`
    if (first?.ok !== true) {
      ops.info('waiting for migration lock (another replica is migrating)')
      await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
    }
    locked = true

    // Only create _migrations when it is missing: CREATE ... IF NOT EXISTS still needs CREATE
    // privilege, which a role on a pre-created schema may not have.
    const [reg] = await conn<Array<{ t: string | null }>>`select to_regclass('_migrations')::text as t`
    if (reg?.t === null || reg?.t === undefined) {
      await conn`create table if not exists _migrations (
        version integer primary key,
        applied_at timestamptz not null default now()
      )`
    }

    const rows = await conn<Array<{ version: number }>>`select version from _migrations`
    const done = new Set(rows.map((r) => r.version))
    const applied: number[] = []
    for (const m of known) {
      if (done.has(m.version)) continue
      const text = readFileSync(m.file, 'utf8')
      await conn`begin`
      try {
        await conn.unsafe(text)
        await conn`insert into _migrations (version) values (${m.version})`
        await conn`commit`
      } catch (err) {
        await conn`rollback`.catch(() => undefined)
        throw new BootError([
          `migration ${m.version} (${m.file}) failed: ${describeError(err)}`,
          ...permissionHint(err),
        ], 1, { cause: err })
      }
      applied.push(m.version)
      ops.info(`migration ${m.version} applied`)
    }
    return applied
  } catch (err) {
    if (err instanceof BootError) throw err
    throw new BootError([`database migrations failed: ${describeError(err)}`, ...permissionHint(err)], 1, { cause: err })
  } finally {
    if (locked) await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined)
    conn.release()
  }
}
