/**
 * THE CEILING, NOT A PRODUCT PATH: the least a uWebSockets.js → undici streaming proxy can do —
 * no authentication, no policy, no routing, no metering, no audit. Benchmarks compare Weir with
 * every feature on against this to see what the features cost.
 *
 *   node dist/bench/bare-proxy.js --port 9400 --upstream http://127.0.0.1:9300 [--workers 1]
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { loadUws } from '../lib/http/native.js'
import { Pool } from 'undici'

const uWS = loadUws().module

interface Opts { port: number, upstream: string }

function serve (o: Opts): void {
  const pool = new Pool(o.upstream, { connections: 1024, pipelining: 1 })
  const app = uWS.App()
  app.post('/*', (res, req) => {
    const path = req.getUrl()
    const auth = req.getHeader('content-type')
    let aborted = false
    let abort: ((e: Error) => void) | null = null
    res.onAborted(() => { aborted = true; abort?.(new Error('client gone')) })
    const chunks: Buffer[] = []
    res.onData((ab, last) => {
      chunks.push(Buffer.from(new Uint8Array(ab)))
      if (!last) return
      let resume: (() => void) | null = null
      pool.dispatch({ path, method: 'POST', headers: { 'content-type': auth === '' ? 'application/json' : auth }, body: Buffer.concat(chunks) }, {
        onConnect (a: (e: Error) => void) { abort = a },
        onHeaders (status: number, raw: Buffer[], r: () => void) {
          resume = r
          if (aborted) return false
          res.cork(() => {
            res.writeStatus(String(status))
            for (let i = 0; i < raw.length; i += 2) {
              const k = (raw[i] as Buffer).toString('latin1').toLowerCase()
              if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') res.writeHeader(k, raw[i + 1] as Buffer)
            }
          })
          return true
        },
        onData (chunk: Buffer) {
          if (aborted) return false
          let ok = true
          res.cork(() => { ok = res.write(chunk) })
          if (!ok) { res.onWritable(() => { resume?.(); return true }); return false }
          return true
        },
        onComplete () { if (!aborted) res.cork(() => res.end()) },
        onError () { if (!aborted) res.cork(() => res.close()) },
      } as never)
    })
  })
  app.listen('127.0.0.1', o.port, (sock) => {
    if (sock === false) process.exit(1)
    parentPort?.postMessage('up')
  })
}

if (isMainThread) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' }, workers: { type: 'string' } } })
  const o: Opts = { port: Number(values.port ?? 9400), upstream: values.upstream ?? 'http://127.0.0.1:9300' }
  const n = Number(values.workers ?? 1)
  let up = 0
  for (let i = 0; i < n; i++) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: o })
    w.on('message', () => { if (++up === n) process.stdout.write(`listening ${o.port}\n`) })
  }
} else {
  serve(workerData as Opts)
}
