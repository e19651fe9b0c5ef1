/**
 * The benchmark suite: `npm run bench` (or `node dist/bench/run.js [flags]`).
 *
 * Everything runs on this machine over loopback: a fast fake upstream (bench/fake-upstream.ts),
 * the gateways under test as separate processes pinned to their own cores, and autocannon pinned
 * to the remaining cores. Targets:
 *   direct     the fake upstream itself (the latency floor)
 *   bare       bench/bare-proxy.ts, a featureless uWS→undici pass-through (the throughput ceiling)
 *   weir-1w    `weir serve --workers 1`, every feature the config enables (auth, routing, policy, metering)
 *   weir-Nw    `weir serve --workers N`
 *   reference  Anthropic's `claude gateway` 2.1.328 (with --reference)
 * Each measurement is repeated (--repeat, default 3) and reported as min/median/max. Results go to
 * bench/results/<stamp>.json and .md, and bench/results/latest.{json,md}.
 *
 * Flags: --quick (short runs), --repeat N, --duration S, --workers N, --reference, --only a,b
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { autocannon, ttfb, type LoadResult } from './lib/load.js'
import { freePort, plan, rssMiB, startProc, type Proc } from './lib/procs.js'
import { type Measure, renderMarkdown, stats } from './lib/report.js'
import { setupWorld, type World } from './lib/world.js'
import { ROOT, VERSION } from '../lib/version.js'

const { values } = parseArgs({ options: {
  quick: { type: 'boolean' }, repeat: { type: 'string' }, duration: { type: 'string' }, workers: { type: 'string' },
  reference: { type: 'boolean' }, only: { type: 'string' },
} })
const cores = availableParallelism()
const repeat = Number(values.repeat ?? (values.quick === true ? 1 : 3))
const duration = Number(values.duration ?? (values.quick === true ? 3 : 10))
const nWorkers = Number(values.workers ?? Math.max(2, cores - 1))
const only = values.only?.split(',')
const want = (s: string): boolean => only === undefined || only.includes(s)

async function measure (label: string, n: number, fn: () => Promise<LoadResult>): Promise<Measure> {
  const runs: LoadResult[] = []
  for (let i = 0; i < n; i++) {
    const r = await fn()
    runs.push(r)
    process.stderr.write(`  ${label} #${i + 1}: ${r.reqPerSec.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms errors ${r.errors} non2xx ${r.non2xx}\n`)
  }
  return { label, runs, reqPerSec: stats(runs.map((r) => r.reqPerSec)), p50: stats(runs.map((r) => r.p50)), p99: stats(runs.map((r) => r.p99)) }
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-'))
  const world: World = await setupWorld(dir, { reference: values.reference === true })
  const results: Record<string, unknown> = {
    machine: { cores, node: process.version, weir: VERSION, platform: `${process.platform}-${process.arch}`, cpu: world.cpuModel, taskset: world.taskset },
    settings: { repeat, duration, nWorkers },
    scenarios: {},
  }
  const scenarios = results.scenarios as Record<string, unknown>
  const upCores = plan(cores, 1).others
  const procs: Proc[] = []
  const stopAll = async (): Promise<void> => { for (const p of procs.splice(0)) await p.stop().catch(() => {}) }
  process.on('SIGINT', () => { void stopAll().then(() => world.close()).then(() => process.exit(130)) })

  try {
    const upstream = async (events: number, delay: number): Promise<void> => {
      await world.restartUpstream(events, delay, upCores)
    }
    const targets = async (workers: number, which: string[]): Promise<Record<string, string>> => {
      await stopAll()
      const p = plan(cores, workers)
      const urls: Record<string, string> = { direct: world.upstreamUrl }
      if (which.includes('bare')) {
        const port = await freePort()
        procs.push(await startProc('bare', process.execPath, [resolve(ROOT, 'dist/bench/bare-proxy.js'), '--port', String(port), '--upstream', world.upstreamUrl, '--workers', String(workers)], { cores: p.gateway, ready: /listening/ }))
        urls.bare = `http://127.0.0.1:${port}`
      }
      if (which.includes('weir')) {
        const w = await world.startWeir(workers, p.gateway)
        procs.push(w.proc)
        urls.weir = w.url
      }
      if (which.includes('reference') && world.reference) {
        const r = await world.startReference(p.gateway)
        procs.push(r.proc)
        urls.reference = r.url
      }
      return urls
    }
    const load = (url: string, connections: number, body: string, extra: { rate?: number } = {}): Promise<LoadResult> =>
      autocannon({ url: `${url}/v1/messages`, connections, durationS: duration, headers: world.headers, bodyFile: body, cores: upCores, ...extra })

    if (want('short')) {
      process.stderr.write('scenario: short streams (20 events, no delay), 50 connections\n')
      await upstream(20, 0)
      const out: Measure[] = []
      let urls = await targets(1, ['bare', 'weir', 'reference'])
      out.push(await measure('direct', repeat, () => load(urls.direct as string, 50, world.shortBody)))
      out.push(await measure('bare-1w', repeat, () => load(urls.bare as string, 50, world.shortBody)))
      out.push(await measure('weir-1w', repeat, () => load(urls.weir as string, 50, world.shortBody)))
      const rssShort = rssMiB(procs.find((p) => p.name === 'weir')?.child.pid)
      if (urls.reference !== undefined) out.push(await measure('reference', repeat, () => load(urls.reference as string, 50, world.shortBody)))
      urls = await targets(nWorkers, ['bare', 'weir'])
      out.push(await measure(`bare-${nWorkers}w`, repeat, () => load(urls.bare as string, 50, world.shortBody)))
      out.push(await measure(`weir-${nWorkers}w`, repeat, () => load(urls.weir as string, 50, world.shortBody)))
      scenarios.short = { measures: out, weirRssMiB: rssShort }
    }
    if (want('latency')) {
      process.stderr.write('scenario: added latency at a fixed 1,000 req/s\n')
      await upstream(20, 0)
      const urls = await targets(1, ['weir'])
      const direct = await measure('direct', repeat, () => load(urls.direct as string, 50, world.shortBody, { rate: 1000 }))
      const weir = await measure('weir-1w', repeat, () => load(urls.weir as string, 50, world.shortBody, { rate: 1000 }))
      scenarios.latency = { measures: [direct, weir] }
    }
    if (want('ttfb')) {
      process.stderr.write('scenario: time to first byte (stream of 20 events, 10 ms apart)\n')
      await upstream(20, 10)
      const urls = await targets(1, ['weir'])
      const n = values.quick === true ? 30 : 200
      const body = world.shortBodyText
      const direct = await ttfb(`${urls.direct as string}/v1/messages`, world.headers, body, n)
      const weir = await ttfb(`${urls.weir as string}/v1/messages`, world.headers, body, n)
      scenarios.ttfb = { direct, weir, addedP50: weir.p50 - direct.p50, addedP99: weir.p99 - direct.p99 }
    }
    if (want('slow')) {
      process.stderr.write('scenario: long slow streams (20 events, 50 ms apart), 200 connections\n')
      await upstream(20, 50)
      const urls = await targets(1, ['weir'])
      const direct = await measure('direct', repeat, () => load(urls.direct as string, 200, world.shortBody))
      const weir = await measure('weir-1w', repeat, () => load(urls.weir as string, 200, world.shortBody))
      scenarios.slow = { measures: [direct, weir] }
    }
    if (want('big')) {
      process.stderr.write('scenario: 1 MiB request bodies, 10 connections\n')
      await upstream(20, 0)
      const urls = await targets(1, ['weir'])
      const direct = await measure('direct', repeat, () => load(urls.direct as string, 10, world.bigBody))
      const weir = await measure('weir-1w', repeat, () => load(urls.weir as string, 10, world.bigBody))
      scenarios.big = { measures: [direct, weir] }
    }
    if (want('memory')) {
      process.stderr.write('scenario: 1,000 concurrent slow streams on one worker (RSS)\n')
      await upstream(40, 100)
      await targets(1, ['weir'])
      const weir = procs.find((p) => p.name === 'weir')
      const idle = rssMiB(weir?.child.pid)
      const urls = { weir: world.weirUrl }
      let peak = idle
      const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(weir?.child.pid)) }, 200)
      const r = await autocannon({ url: `${urls.weir}/v1/messages`, connections: 1000, durationS: Math.max(duration, 8), headers: world.headers, bodyFile: world.shortBody, cores: upCores })
      clearInterval(sampler)
      scenarios.memory = { idleRssMiB: idle, peakRssMiB: peak, streams: 1000, reqPerSec: r.reqPerSec, errors: r.errors, non2xx: r.non2xx }
    }
  } finally {
    await stopAll()
    await world.close()
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const outDir = resolve(ROOT, 'bench', 'results')
  mkdirSync(outDir, { recursive: true })
  const md = renderMarkdown(results)
  for (const name of [stamp, 'latest']) {
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(results, null, 2) + '\n')
    writeFileSync(join(outDir, `${name}.md`), md)
  }
  process.stdout.write(md)
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
