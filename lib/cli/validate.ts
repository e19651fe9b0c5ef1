/**
 * `weir validate --config FILE`: says exactly what `serve` would say about the file — interpolation,
 * schema, cross-field rules, keys not supported yet — without touching the network or a database.
 *
 * `weir validate --diff OLD NEW`: both files are loaded the same way, and every key that differs
 * is printed with what a reload of a gateway running OLD would do with it (applied live, or
 * waiting for a restart). Values that are secrets by their key's name, or that were written with
 * `${...}` interpolation in either file, are never printed.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { type Path, describeChange, diffConfigs } from '../config/diff.js'
import { loadConfig } from '../config/load.js'
import { describePools } from '../config/schema/pools.js'
import { parseFlags, reportBootError, UsageError } from './args.js'

const HELP = `Usage: weir validate --config FILE
       weir validate --diff OLD.yaml NEW.yaml

Checks a gateway.yaml the way 'weir serve' would, without network or database access.
Problems go to stderr, one per line with the key path and line:column.

--diff checks both files and prints what changing a gateway from OLD to NEW would do, one key
per line ('+' added, '-' removed, '~' changed), marking the keys that need a restart. Secrets and
values written with \${...} are redacted.

Exit codes: 0 valid (with --diff: no change), 78 invalid.
With --diff: 1 every change applies live on reload, 2 some change needs a restart.
`

/** A value at `path` in the raw (not interpolated) YAML text holds `${`: its resolved value may be a secret. */
function interpolatedAt (file: string): (path: Path) => boolean {
  let doc: ReturnType<typeof parseDocument> | null = null
  try { doc = parseDocument(readFileSync(file, 'utf8')) } catch { doc = null }
  const walk = (v: unknown): boolean =>
    typeof v === 'string' ? v.includes('${') : Array.isArray(v) ? v.some(walk) : typeof v === 'object' && v !== null ? Object.values(v).some(walk) : false
  return (path) => {
    if (doc === null) return true
    const node = doc.getIn(path as Array<string | number>, false) as unknown
    return walk(typeof node === 'object' && node !== null && 'toJSON' in node ? (node as { toJSON: () => unknown }).toJSON() : node)
  }
}

function runDiff (files: string[]): number {
  if (files.length !== 2) throw new UsageError('--diff needs two files: OLD.yaml NEW.yaml')
  const [oldPath, newPath] = files.map((f) => resolve(f)) as [string, string]
  let before, after
  try {
    before = loadConfig(oldPath)
    after = loadConfig(newPath)
  } catch (err) {
    return reportBootError(err)
  }
  const changes = diffConfigs(before.config, after.config)
  const hiddenOld = interpolatedAt(oldPath)
  const hiddenNew = interpolatedAt(newPath)
  const hidden = (p: Path): boolean => hiddenOld(p) || hiddenNew(p)
  const restart = changes.filter((c) => c.restart !== undefined).length
  for (const c of changes) process.stdout.write(`${describeChange(c, { hidden })}\n`)
  process.stdout.write(changes.length === 0
    ? 'no changes\n'
    : `${changes.length} change(s): ${changes.length - restart} apply live on reload (SIGHUP), ${restart} need a restart\n`)
  return changes.length === 0 ? 0 : restart > 0 ? 2 : 1
}

export async function runValidate (argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { config: { type: 'string', short: 'c' }, diff: { type: 'boolean' } })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  if (values.diff === true) {
    if (values.config !== undefined) throw new UsageError('--diff takes two files, not --config')
    return runDiff(positionals)
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}' (did you mean --diff OLD NEW?)`)
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
