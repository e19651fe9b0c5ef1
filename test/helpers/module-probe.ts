/**
 * Tests only: preloaded with `node --import <this file>` into a `weir serve` child process. Every
 * thread runs it (worker threads, the Piscina pool's included, inherit the process's execArgv) and
 * writes the CommonJS modules it has loaded — `require.cache`, which also holds every CommonJS
 * package that ESM code imported — to `$WEIR_MODULE_PROBE_DIR/<threadId>.json`, at once and every
 * 100 ms (write then rename, so a reader never sees half a file). The timer is unref'd: it keeps
 * no thread alive.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { isMainThread, threadId } from 'node:worker_threads'

export interface ProbeReport {
  readonly main: boolean
  readonly threadId: number
  readonly at: number
  readonly modules: string[]
}

const dir = process.env.WEIR_MODULE_PROBE_DIR
if (dir !== undefined && dir !== '') {
  const require = createRequire(import.meta.url)
  const file = join(dir, `${threadId}.json`)
  const write = (): void => {
    const report: ProbeReport = { main: isMainThread, threadId, at: Date.now(), modules: Object.keys(require.cache) }
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(report))
      renameSync(`${file}.tmp`, file)
    } catch {}
  }
  setImmediate(write).unref()
  setInterval(write, 100).unref()
}
