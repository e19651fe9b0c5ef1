/**
 * `weir` command-line entry: dispatches to the sub-commands. Each sub-command parses its own flags
 * strictly (unknown flags are errors) and answers `--help`.
 *
 * The commands that run a gateway (`serve`, `gateway`, `dev`) wire every feature together, so they
 * live in workers/ and reach this table from the entry point (bin/weir.ts): nothing under lib/
 * imports workers/.
 */
import { EX_USAGE, UsageError } from './args.js'
import { VERSION } from '../version.js'

const USAGE = `weir ${VERSION} — a gateway between Claude Code and your model providers

Usage: weir <command> [flags]

Commands:
  serve --config FILE [--workers N]   run the gateway (alias: gateway)
  validate --config FILE              check a gateway.yaml without touching network or database
  migrate --config FILE               apply database migrations and exit
  dev [--port N] [--user EMAIL] ...   a complete local gateway with nothing installed
  client-settings --url URL           print the managed-settings.json that points Claude Code here
  admin caps|spend|usage|cost ...     manage a running gateway, read its reports (WEIR_ADMIN_KEY, WEIR_URL)
  version                             print the version, Node, uWebSockets.js build and glibc

Run 'weir <command> --help' for a command's flags.
`

export type Command = (argv: string[]) => Promise<number>
/** A command, loaded when it is run (each pulls in only what it needs). */
export type CommandLoader = () => Promise<Command>

const COMMANDS: Record<string, CommandLoader> = {
  validate: async () => (await import('./validate.js')).runValidate,
  migrate: async () => (await import('./migrate.js')).runMigrate,
  'client-settings': async () => (await import('./client-settings.js')).runClientSettings,
  admin: async () => (await import('./admin.js')).runAdmin,
  version: async () => (await import('./version.js')).runVersion,
}

/** Run one command line; `wired` adds the commands that live outside lib/ (bin/weir.ts passes them). */
export async function main (argv: string[], wired: Record<string, CommandLoader> = {}): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE)
    return cmd === undefined ? EX_USAGE : 0
  }
  if (cmd === '--version' || cmd === '-v') { process.stdout.write(VERSION + '\n'); return 0 }
  const load = wired[cmd] ?? COMMANDS[cmd]
  if (load === undefined) {
    process.stderr.write(`weir: unknown command '${cmd}'\n\n${USAGE}`)
    return EX_USAGE
  }
  try {
    return await (await load())(rest)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`weir ${cmd}: ${err.message}\nRun 'weir ${cmd} --help' for usage.\n`)
      return EX_USAGE
    }
    throw err
  }
}
