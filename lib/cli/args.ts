/**
 * Small helpers shared by the CLI commands: strict flag parsing (unknown flags are errors) and
 * printing boot problems.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { BootError } from '../errors.js'

/** EX_USAGE from sysexits.h. */
export const EX_USAGE = 64

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>

/** Parse `argv` strictly. `--help`/`-h` is always accepted. Throws UsageError on bad flags. */
export function parseFlags<O extends Options> (argv: string[], options: O): { values: Record<string, string | boolean | undefined>, positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** A positive integer flag value, or a UsageError naming the flag. */
export function positiveInt (name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a positive integer`)
  return Number(v)
}

/** Print a boot failure (one problem per line) to stderr and return its exit code. */
export function reportBootError (err: unknown): number {
  if (err instanceof BootError) {
    for (const line of err.lines) process.stderr.write(line + '\n')
    return err.exitCode
  }
  process.stderr.write(`weir: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  return 1
}
