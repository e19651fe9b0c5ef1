#!/usr/bin/env node
import { main } from '../lib/cli/main.js'

main(process.argv.slice(2), {
  serve: async () => (await import('../workers/serve.js')).runServe,
  gateway: async () => (await import('../workers/serve.js')).runServe,
  dev: async () => (await import('../workers/dev.js')).runDev,
}).then(
  (code) => { process.exitCode = code },
  (err: unknown) => {
    process.stderr.write(`weir: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
