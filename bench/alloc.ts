/**
 * Allocation and added latency of the hot path in one thread: `node dist/bench/alloc.js
 * [--before DIR] [--duration S] [--rate R]` (standalone; not part of `run.js`'s rounds).
 *
 * Targets, measured in turns in one run: `after` (this build's handleMessages in
 * bench/alloc-server.ts), `before` (the same harness around another built checkout's
 * handleMessages, e.g. /work/main or a worktree of the last release — `--before DIR`), `bare`
 * (bench/bare-proxy.ts, one worker: the featureless ceiling) and `direct` (the fake upstream
 * itself, the latency floor). All talk to one fake upstream (bench/fake-upstream.ts, 20 events
 * written at once: a short streamed reply).
 *
 *   - bytes allocated per request: JS heap allocation in the server thread over a closed-loop run
 *     (autocannon, 10 connections), by GC accounting (method in bench/alloc-server.ts);
 *   - latency: open loop at `--rate` req/s (bench/lib/rate.ts): total and TTFB p50/p99, and what
 *     the target adds over `direct`;
 *   - throughput: closed loop, 50 connections; ratio to `bare`.
 * Prints a Markdown table and writes bench/results/alloc-latest.{json,md}. About 1 minute.
 *
 * `--alloc-only` measures only the bytes per request (after, and before when given; no bare proxy,
 * no latency or throughput rounds; writes no results file): a quick before/after while cutting
 * allocation. `--heap-profile DIR` also writes each server's top allocating functions (sampling heap
 * profile, B/request) to DIR/<target>.txt.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { autocannon, rate } from './lib/load.js'
import { freePort, startProc, type Proc } from './lib/procs.js'
import { ROOT } from '../lib/version.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const log = (s: string): void => { process.stderr.write(s + '\n') }

interface AllocServer { url: string, measure: () => Promise<Record<string, number>>, start: () => void, stop: () => Promise<void> }

async function allocServer (root: string, upstream: string, heapProfile?: string): Promise<AllocServer> {
  const port = await freePort()
  const args = [join(HERE, 'alloc-server.js'), '--root', root, '--port', String(port), '--upstream', upstream]
  if (heapProfile !== undefined) args.push('--heap-profile', heapProfile)
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<string> => {
    const r = await lines.next()
    if (r.done === true) throw new Error(`alloc-server (${root}) ended: ${err.slice(-2000)}`)
    return r.value as string
  }
  const ready = await next()
  if (!ready.startsWith('listening')) throw new Error(`alloc-server: ${ready} ${err}`)
  return {
    url: `http://127.0.0.1:${port}/v1/messages`,
    start: () => { child.stdin.write('start\n') },
    measure: async () => { child.stdin.write('stop\n'); return JSON.parse(await next()) as Record<string, number> },
    stop: async () => { child.stdin.write('exit\n'); await new Promise((resolve) => child.once('exit', resolve)) },
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string' }, duration: { type: 'string' }, rate: { type: 'string' }, 'alloc-only': { type: 'boolean' }, 'heap-profile': { type: 'string' } } })
  const allocOnly = values['alloc-only'] === true
  const profDir = values['heap-profile'] !== undefined ? resolve(values['heap-profile']) : undefined
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true })
  const duration = Number(values.duration ?? 5)
  const perSecond = Number(values.rate ?? 1000)
  const dir = mkdtempSync(join(tmpdir(), 'weir-alloc-'))
  const bodyText = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 4096, stream: true, messages: [{ role: 'user', content: 'Summarise the design of a streaming gateway in three sentences.' }] })
  const bodyFile = join(dir, 'short.json')
  writeFileSync(bodyFile, bodyText)
  const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', authorization: 'Bearer bench' }
  const upPort = await freePort()
  const procs: Proc[] = []
  const up = await startProc('fake-upstream', process.execPath, [join(HERE, 'fake-upstream.js'), '--port', String(upPort), '--events', '20'], { ready: /listening/ })
  procs.push(up)
  const upstream = `http://127.0.0.1:${upPort}`
  const barePort = await freePort()
  if (!allocOnly) procs.push(await startProc('bare-proxy', process.execPath, [join(HERE, 'bare-proxy.js'), '--port', String(barePort), '--upstream', upstream, '--workers', '1'], { ready: /listening/ }))
  const prof = (l: string): string | undefined => profDir !== undefined ? join(profDir, `${l}.txt`) : undefined
  const servers: Array<[string, AllocServer]> = [['after', await allocServer(ROOT, upstream, prof('after'))]]
  if (values.before !== undefined) servers.push(['before', await allocServer(resolve(values.before), upstream, prof('before'))])
  const targets: Array<[string, string]> = servers.map(([l, s]): [string, string] => [l, s.url])
  if (!allocOnly) targets.push(['bare', `http://127.0.0.1:${barePort}/v1/messages`], ['direct', `${upstream}/v1/messages`])
  const out: Record<string, Record<string, number>> = {}
  for (const [l] of targets) out[l] = {}

  // Warm-up: JIT and connection pools, on every target.
  for (const [, url] of targets) await autocannon({ url, connections: 10, durationS: 1, headers, bodyFile })
  log('allocation (closed loop, 10 connections):')
  for (const [l, s] of servers) {
    s.start()
    const r = await autocannon({ url: s.url, connections: 10, durationS: duration, headers, bodyFile })
    const m = await s.measure()
    Object.assign(out[l] as object, { allocBytesPerReq: Math.round(m.perRequest as number), gcs: m.gcs, gcPauseMs: Math.round((m.gcPauseMs as number) * 10) / 10, allocRequests: m.requests, errors: r.errors + r.non2xx })
    log(`  ${l}: ${(m.perRequest as number / 1024).toFixed(1)} KiB/request over ${m.requests} requests, ${m.gcs} GCs, ${(m.gcPauseMs as number).toFixed(1)} ms GC pause`)
  }
  if (allocOnly) {
    const a = out.after as Record<string, number>
    const b = out.before
    const lines = servers.map(([l]) => `${l}: ${(out[l] as Record<string, number>).allocBytesPerReq} B/request (${((out[l] as Record<string, number>).allocBytesPerReq as number / 1024).toFixed(1)} KiB)`)
    if (b !== undefined) lines.push(`after/before: ${(a.allocBytesPerReq as number / (b.allocBytesPerReq as number)).toFixed(2)}×`)
    process.stdout.write(lines.join('\n') + '\n')
    for (const [, s] of servers) await s.stop()
    for (const p of procs) await p.stop()
    return
  }
  log(`latency (open loop, ${perSecond} req/s):`)
  for (const [l, url] of targets) {
    const r = await rate({ url, rate: perSecond, durationS: duration, headers, bodyFile })
    Object.assign(out[l] as object, { p50: r.main.total.p50, p99: r.main.total.p99, ttfbP50: r.main.ttfb.p50, ttfbP99: r.main.ttfb.p99, rateErrors: r.main.errors + r.main.non2xx })
    log(`  ${l}: total p50 ${r.main.total.p50} p99 ${r.main.total.p99} ttfb p50 ${r.main.ttfb.p50} p99 ${r.main.ttfb.p99} ms`)
  }
  log('throughput (closed loop, 50 connections):')
  for (const [l, url] of targets) {
    const r = await autocannon({ url, connections: 50, durationS: duration, headers, bodyFile })
    Object.assign(out[l] as object, { reqPerSec: Math.round(r.reqPerSec), tputErrors: r.errors + r.non2xx })
    log(`  ${l}: ${r.reqPerSec.toFixed(0)} req/s`)
  }
  for (const [, s] of servers) await s.stop()
  for (const p of procs) await p.stop()

  const d = out.direct as Record<string, number>
  const bare = out.bare as Record<string, number>
  const rows = ['| target | KiB allocated/req | GCs | added p50 ms | added p99 ms | TTFB p99 − upstream ms | req/s | vs bare |', '|---|---|---|---|---|---|---|---|']
  for (const [l] of targets) {
    const o = out[l] as Record<string, number>
    const kib = o.allocBytesPerReq !== undefined ? (o.allocBytesPerReq / 1024).toFixed(1) : '—'
    const add = (k: string): string => l === 'direct' ? '—' : ((o[k] as number) - (d[k] as number)).toFixed(3)
    rows.push(`| ${l} | ${kib} | ${o.gcs ?? '—'} | ${add('p50')} | ${add('p99')} | ${add('ttfbP99')} | ${o.reqPerSec} | ${((o.reqPerSec as number) / (bare.reqPerSec as number) * 100).toFixed(0)}% |`)
  }
  const a = out.after as Record<string, number>
  const b = out.before
  if (b !== undefined) {
    rows.push('', `after/before: allocation ${(a.allocBytesPerReq as number / (b.allocBytesPerReq as number)).toFixed(2)}×, throughput ${(a.reqPerSec as number / (b.reqPerSec as number)).toFixed(2)}×, p99 ${(a.p99 as number / (b.p99 as number)).toFixed(2)}×`)
  }
  const md = rows.join('\n') + '\n'
  process.stdout.write(md)
  const res = join(ROOT, 'bench', 'results')
  mkdirSync(res, { recursive: true })
  writeFileSync(join(res, 'alloc-latest.json'), JSON.stringify({ stamp: new Date().toISOString(), node: process.version, duration, rate: perSecond, before: values.before ?? null, results: out }, null, 2))
  writeFileSync(join(res, 'alloc-latest.md'), md)
}

main().catch((err: unknown) => { process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`); process.exit(1) })
