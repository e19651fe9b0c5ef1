/**
 * Small helpers shared by the CLI commands: strict flag parsing (unknown flags are errors) and
 * printing boot problems.
 *
 * Flag errors are worded here, never passed through from `util.parseArgs` (whose text is written
 * for programmers, quotes unevenly and suggests `--` tricks): an unknown flag names the nearest
 * known one, a flag that needs a value and has none says so, and a value that looks like a flag
 * (`--port --user x`) is refused unless written `--port=--user`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { BootError } from '../errors.js'
import { nearest } from '../config/messages.js'

/** EX_USAGE from sysexits.h. */
export const EX_USAGE = 64

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * Parse `argv` strictly. `--help`/`-h` is always accepted. Throws UsageError on bad flags, and on
 * any positional argument when `allowPositionals` is false.
 */
export function parseFlags<O extends Options> (argv: string[], options: O, allowPositionals = true): { values: Record<string, string | boolean | undefined>, positionals: string[] } {
  const all: Options = { ...options, help: { type: 'boolean', short: 'h' } }
  const r = parseArgs({ args: argv, options: all, strict: false, allowPositionals: true, tokens: true })
  const flags = Object.keys(all).map((n) => `--${n}`)
  for (const tok of r.tokens) {
    if (tok.kind === 'positional') {
      if (!allowPositionals) throw new UsageError(`unexpected argument '${tok.value}' (this command takes flags only)`)
      continue
    }
    if (tok.kind !== 'option') continue
    const spec = all[tok.name]
    if (spec === undefined) {
      const near = tok.rawName.startsWith('--') ? nearest(tok.rawName, flags) : undefined
      throw new UsageError(`unknown flag ${tok.rawName}${near === undefined ? '' : ` (did you mean ${near}?)`}`)
    }
    const flag = `--${tok.name}`
    if (spec.type === 'boolean' && tok.inlineValue === true) throw new UsageError(`${flag} takes no value`)
    if (spec.type === 'string') {
      if (tok.value === undefined) throw new UsageError(`${flag} needs a value`)
      if (tok.inlineValue === false && tok.value.startsWith('-') && tok.value !== '-') {
        throw new UsageError(`${flag} needs a value, but the next argument is '${tok.value}' (write ${flag}=${tok.value} if that is the value)`)
      }
    }
  }
  return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals }
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
