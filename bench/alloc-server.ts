/**
 * The hot path alone in one thread, for the allocation benchmark (bench/alloc.ts): a uWS app whose
 * POST /v1/messages is the `handleMessages` of the Weir build under `--root` (this one, or another
 * built checkout for a before/after comparison), with a fixed principal, no spend control, the
 * built-in routing and a real Anthropic upstream (undici pool) pointed at the fake upstream. The
 * uWS handler does what lib/http's pipeline does for the hot path (capture, abort, finish) and
 * nothing else, so what is measured is the hot path's own allocation.
 *
 *   node dist/bench/alloc-server.js --root DIR --port P --upstream URL
 *
 * Prints `listening <port>`. On stdin, `start` begins a measurement and `stop` ends it and prints
 * one JSON line: requests finished in between, JS heap bytes allocated in between (method below),
 * the garbage collections and their total pause.
 *
 * Method: `v8.GCProfiler` reports the used heap before and after every collection. Bytes allocated
 * over an interval = Σ (used before GC i − used after GC i−1) + (used at stop − used after the last
 * GC), starting from the used heap at start. It counts every JS-heap allocation (objects, strings,
 * closures, Buffer objects and pooled small-Buffer slabs are JS objects; the backing stores of
 * Buffers of 4 KiB and more are external memory and are not counted — see `external` below).
 */
import { createInterface } from 'node:readline'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import v8 from 'node:v8'

interface Node { callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children: Node[] }

const { values } = parseArgs({ options: { root: { type: 'string' }, port: { type: 'string' }, upstream: { type: 'string' }, 'heap-profile': { type: 'string' } } })
const root = resolve(values.root ?? '.')
const imp = async <T>(rel: string): Promise<T> => await import(pathToFileURL(join(root, 'dist', rel)).href) as T

interface GcStat { beforeGC: { heapStatistics: { usedHeapSize: number } }, afterGC: { heapStatistics: { usedHeapSize: number } }, cost: number }

async function main (): Promise<void> {
  const { loadUws } = await imp<typeof import('../lib/http/native.js')>('lib/http/native.js')
  const { captureRequest, finish } = await imp<typeof import('../lib/http/request.js')>('lib/http/request.js')
  const { handleMessages } = await imp<typeof import('../lib/proxy/messages.js')>('lib/proxy/messages.js')
  const { ModelRouter } = await imp<typeof import('../lib/proxy/routing.js')>('lib/proxy/routing.js')
  const { anthropicUpstream } = await imp<typeof import('../lib/proxy/upstreams/anthropic.js')>('lib/proxy/upstreams/anthropic.js')
  const { NO_ACCOUNTING } = await imp<typeof import('../lib/proxy/accounting.js')>('lib/proxy/accounting.js')
  const { setLogSink } = await imp<typeof import('../lib/log.js')>('lib/log.js')
  setLogSink(() => {}) // audit lines are built (their cost counts) but not written to a pipe
  process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'
  const up = anthropicUpstream({ provider: 'anthropic', name: 'fake', base_url: values.upstream, auth: { api_key: 'sk-bench' } } as never, { ttfbMs: 30_000 })
  const principal = { sub: 'u-bench', email: 'bench@example.com', name: 'bench', groups: ['eng'], iat: 0, exp: Number.MAX_SAFE_INTEGER }
  const deps = {
    upstreams: [up],
    models: new ModelRouter([], true, [{ name: 'fake', provider: 'anthropic' }]),
    policy: { checkModel: () => {}, auditFields: () => null },
    accounting: NO_ACCOUNTING,
    authenticate: () => principal,
    cri: null,
    maxBodyBytes: 32 * 1024 * 1024,
    billingGroupTag: undefined,
    upstreamGroups: [null],
    loadTest: false,
    pools: null,
  }
  let finished = 0
  const onFinish = (): void => { finished++ }
  const app = loadUws().module.App()
  app.post('/v1/messages', (res, req) => {
    const rq = captureRequest(res, req)
    rq.onFinish = onFinish
    res.onAborted(() => {
      rq.aborted = true
      const cb = rq.onAbort
      rq.onAbort = null
      if (cb !== null) cb()
      finish(rq)
    })
    void handleMessages(res, rq, 'messages', deps as never)
  })
  const port = Number(values.port)
  await new Promise<void>((resolve, reject) => { app.listen('127.0.0.1', port, (s) => { s !== false ? resolve() : reject(new Error(`cannot listen on ${port}`)) }) })
  process.stdout.write(`listening ${port}\n`)

  // --heap-profile FILE: also sample every allocation (collected ones included) between start and
  // stop, and write the top allocating functions to FILE (where to cut; the totals come from GC accounting).
  const sampling = values['heap-profile'] !== undefined ? new Session() : null
  sampling?.connect()
  const post = async (m: string, p?: object): Promise<unknown> => await new Promise((resolve, reject) => { sampling?.post(m, p, (e, r) => { e !== null ? reject(e) : resolve(r) }) })
  let prof: v8.GCProfiler | null = null
  let startUsed = 0
  let startFinished = 0
  let startExternal = 0
  let t0 = 0
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'start') {
      prof = new v8.GCProfiler()
      startUsed = v8.getHeapStatistics().used_heap_size
      startExternal = process.memoryUsage().external
      startFinished = finished
      t0 = performance.now()
      prof.start()
      if (sampling !== null) await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    } else if (line === 'stop' && prof !== null) {
      const r = prof.stop() as unknown as { statistics: GcStat[] }
      if (sampling !== null) {
        const { profile } = await post('HeapProfiler.stopSampling') as { profile: { head: Node } }
        // By allocating function, then by function and its caller (Node's own Buffer.from etc. say
        // little without the line of ours that called them).
        const self = new Map<string, number>()
        const called = new Map<string, number>()
        const frame = (n: Node): string => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '')}:${n.callFrame.lineNumber + 1}`
        const walk = (n: Node, parent: string): void => {
          const k = frame(n)
          self.set(k, (self.get(k) ?? 0) + n.selfSize)
          const kc = `${k}  <  ${parent}`
          called.set(kc, (called.get(kc) ?? 0) + n.selfSize)
          for (const c of n.children) walk(c, k)
        }
        walk(profile.head, '')
        const n = Math.max(1, finished - startFinished)
        let total = 0
        for (const v of self.values()) total += v
        const top = (m: Map<string, number>, k: number): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([k, v]) => `${(v / n).toFixed(0).padStart(7)} B/req  ${k}`).join('\n')
        writeFileSync(values['heap-profile'] as string, `sampled total ${(total / n).toFixed(0)} B/req over ${n} requests\n\n${top(self, 50)}\n\nby caller:\n${top(called, 60)}\n`)
      }
      const endUsed = v8.getHeapStatistics().used_heap_size
      let bytes = 0
      let prev = startUsed
      let pause = 0
      for (const g of r.statistics) {
        bytes += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - prev)
        prev = g.afterGC.heapStatistics.usedHeapSize
        pause += g.cost
      }
      bytes += Math.max(0, endUsed - prev)
      const requests = finished - startFinished
      process.stdout.write(JSON.stringify({ requests, bytes, perRequest: requests > 0 ? bytes / requests : 0, gcs: r.statistics.length, gcPauseMs: pause / 1000, seconds: (performance.now() - t0) / 1000, externalDelta: process.memoryUsage().external - startExternal }) + '\n')
      prof = null
    } else if (line === 'exit') break
  }
  process.exit(0)
}

void main()
