/**
 * `weir serve --config FILE [--workers N]` (also spelled `weir gateway`, the reference's name).
 */
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { loadConfig } from '../config/load.js'
import { exposureNotice } from '../config/warnings.js'
import { audit, describeError, flushLines, ops } from '../log.js'
import { bootSummary, startGateway } from '../../workers/primary.js'
import { parseFlags, positiveInt, reportBootError, UsageError } from './args.js'

const HELP = `Usage: weir serve --config FILE [--workers N]

Runs the gateway described by FILE (a gateway.yaml).

  --config FILE   path to gateway.yaml (required)
  --workers N     HTTP worker threads (default: available parallelism, here ${availableParallelism()})
  -h, --help      this text

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 78 when the config is invalid, 1 on other boot failures.
`

export async function runServe (argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' } })
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

  let gw
  try {
    gw = await startGateway(loaded, { workers })
  } catch (err) {
    return reportBootError(err)
  }
  for (const line of bootSummary(loaded, gw, workers)) ops.info(line)

  return await new Promise<number>((done) => {
    let signalled = false
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) { ops.warn(`${sig} again: exiting without waiting`); process.exit(1) }
      signalled = true
      ops.info(`${sig} received: draining`)
      gw.stop().then(() => { ops.info('stopped'); done(0) }, (err: unknown) => { ops.error(`shutdown failed: ${describeError(err)}`); done(1) })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
