/**
 * `weir validate --config FILE`: says exactly what `serve` would say about the file — interpolation,
 * schema, cross-field rules, keys not supported yet — without touching the network or a database.
 */
import { resolve } from 'node:path'
import { loadConfig } from '../config/load.js'
import { describePools } from '../config/schema/pools.js'
import { parseFlags, reportBootError, UsageError } from './args.js'

const HELP = `Usage: weir validate --config FILE

Checks a gateway.yaml the way 'weir serve' would, without network or database access.
Problems go to stderr, one per line with the key path and line:column.

Exit codes: 0 valid, 78 invalid.
`

export async function runValidate (argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  if (typeof values.config !== 'string') throw new UsageError('--config FILE is required')
  try {
    const loaded = loadConfig(resolve(values.config))
    for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`)
    process.stdout.write(`${loaded.path}: valid (sha256 ${loaded.sha256})\n`)
    for (const line of describePools(loaded.config.upstream_pools, loaded.config.upstreams)) process.stdout.write(`${line}\n`)
    return 0
  } catch (err) {
    return reportBootError(err)
  }
}
