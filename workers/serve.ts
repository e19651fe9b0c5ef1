/**
 * `weir serve --config FILE [--workers N] [--watch]` (also spelled `weir gateway`, the reference's
 * name). SIGHUP, and with `--watch` a change of the file's content, reloads the config live
 * (lib/config/reload.ts); a reload that fails leaves the running config in place.
 */
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { loadConfig } from '../lib/config/load.js'
import { exposureNotice } from '../lib/config/warnings.js'
import { watchConfig } from '../lib/config/watch.js'
import { audit, describeError, flushLines, ops } from '../lib/log.js'
import { bootSummary, startGateway } from './primary.js'
import { parseFlags, positiveInt, reportBootError, UsageError } from '../lib/cli/args.js'

const HELP = `Usage: weir serve --config FILE [--workers N] [--watch]

Runs the gateway described by FILE (a gateway.yaml).

  --config FILE   path to gateway.yaml (required)
  --workers N     HTTP worker threads (default: available parallelism, here ${availableParallelism()})
  --watch         reload when FILE's content changes (also through a Kubernetes symlink swap)
  -h, --help      this text

SIGHUP reloads FILE (and re-reads \${file:...} secrets). Changes that need a restart (listen
address, TLS, store, ...) are logged and kept for the next start; a file with problems is
refused and the running config stays.

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 78 when the config is invalid, 1 on other boot failures.
`

export async function runServe (argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' }, watch: { type: 'boolean' } })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  if (typeof values.config !== 'string') throw new UsageError('--config FILE is required')
  const workers = positiveInt('workers', values.workers) ?? availableParallelism()

  let loaded
  try {
    loaded = loadConfig(resolve(values.config))
  } catch (err) {
    return reportBootError(err)
  }
  audit('config.load', { path: loaded.path, sha256: loaded.sha256 })
  flushLines() // config.load stays the first stderr line, before the notice written directly below
  const notice = exposureNotice(process.env)
  if ('box' in notice) process.stderr.write(notice.box)
  else ops.warn(notice.line)
  for (const w of loaded.warnings) ops.warn(w)

  // SIGHUP's default action ends the process: while booting, note it and ignore it (the file was
  // read just now); once serving, it reloads.
  const early = (): void => { ops.warn('SIGHUP while booting: ignored (the config was read moments ago); send it again once serving') }
  process.on('SIGHUP', early)
  let gw
  try {
    gw = await startGateway(loaded, { workers })
  } catch (err) {
    return reportBootError(err)
  }
  for (const line of bootSummary(loaded, gw, workers)) ops.info(line)
  const onHup = (): void => { void gw.reload('SIGHUP') }
  process.on('SIGHUP', onHup)
  process.off('SIGHUP', early)
  const unwatch = values.watch === true ? watchConfig(loaded.path, () => { void gw.reload('file changed') }) : () => {}
  if (values.watch === true) ops.info(`watching ${loaded.path} for changes`)

  return await new Promise<number>((done) => {
    let signalled = false
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) { ops.warn(`${sig} again: exiting without waiting`); process.exit(1) }
      signalled = true
      unwatch()
      process.off('SIGHUP', onHup)
      ops.info(`${sig} received: draining`)
      gw.stop().then(() => { ops.info('stopped'); done(0) }, (err: unknown) => { ops.error(`shutdown failed: ${describeError(err)}`); done(1) })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
