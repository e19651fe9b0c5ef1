/**
 * load_test_mode's boot check: a load test meters made-up developers (`<sub>+loadtest-N`) into the
 * spend tables, so it must never share a database with real spend. The gateway refuses to start
 * when the database already holds a spend row above zero (`spend` or `pooled_spend`).
 * Runs in the primary after migrations, before any worker listens.
 */
import type { Sql } from 'postgres'
import type { LoadedConfig } from '../config/load.js'
import { BootError } from '../errors.js'

export async function guardLoadTestDatabase (ctx: { sql: Sql, loaded: LoadedConfig }): Promise<undefined> {
  if (ctx.loaded.config.load_test_mode?.enabled !== true) return undefined
  const rows = await ctx.sql`
    SELECT 1 FROM spend WHERE micro_cents > 0 OR cents > 0
    UNION ALL SELECT 1 FROM pooled_spend WHERE micro_cents > 0 OR cents > 0
    LIMIT 1`
  if (rows.length > 0) {
    throw new BootError(['load_test_mode is on, but the database at store.postgres_url already holds real spend (a spend row above zero). A load test writes made-up developers into it, so give it a database of its own: point store.postgres_url at an empty one.'])
  }
  return undefined
}
