/**
 * `weir migrate --config FILE`: apply pending database migrations and exit (for deployments that
 * run migrations as a separate step before rolling out replicas; `serve` also migrates at boot).
 */
import { resolve } from 'node:path'
import { loadConfig } from '../config/load.js'
import { openPool, verifyConnection } from '../store/db.js'
import { migrate } from '../store/migrate.js'
import { parseFlags, reportBootError, UsageError } from './args.js'

const HELP = `Usage: weir migrate --config FILE

Connects to store.postgres_url from FILE and applies pending migrations under an advisory lock.
`

export async function runMigrate (argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  if (typeof values.config !== 'string') throw new UsageError('--config FILE is required')
  let sql
  try {
    const loaded = loadConfig(resolve(values.config))
    sql = openPool(loaded.config.store)
    await verifyConnection(sql, loaded.path)
    const applied = await migrate(sql)
    process.stdout.write(applied.length === 0 ? 'database is up to date\n' : `applied migrations: ${applied.join(', ')}\n`)
    return 0
  } catch (err) {
    return reportBootError(err)
  } finally {
    await sql?.end({ timeout: 5 }).catch(() => {})
  }
}
