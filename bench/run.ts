/**
 * The benchmark suite: `npm run bench` (or `node dist/bench/run.js [flags]`). See bench/README.md.
 *
 * Everything runs on this machine over loopback: a fast fake upstream (bench/fake-upstream.ts),
 * the gateways under test as separate processes pinned to their own cores, and the load generators
 * (autocannon for throughput, bench/lib/rate.ts for open-loop latency) as separate processes pinned
 * to the other cores with the upstream; this orchestrator pins itself there too. Targets:
 *   direct     the fake upstream itself (the latency floor)
 *   bare-*     bench/bare-proxy.ts: THE CEILING, a featureless uWS→undici pass-through, not a product path
 *   weir-*     `weir serve --workers N` with auth, routing, a managed policy and metering on
 *   reference  Anthropic's `claude gateway` 2.1.328 (with --reference), same upstream and IdP
 * Targets compared with each other are measured in turns within each round (A, B, C, A, B, C, …),
 * so drift from anything else on the machine hits them alike; --repeat sets the rounds. Results
 * go to bench/results/<stamp>.{json,md} and bench/results/latest.{json,md}.
 *
 * Flags: --quick (short runs), --repeat N, --duration S, --workers N, --reference,
 *        --only short,latency,ttfb,big,slow,memory,stalled,reports (default: all; reports is
 *        bench/reports.ts in its own process, see its header), --profile (adds a CPU
 *        profile of one worker under the short load; --only profile for just that),
 *        --baseline DIR (another checkout of Weir, built, e.g. a `git worktree` of the last
 *        release: its one worker joins the short-stream rounds as `baseline-1w`, for a before/after
 *        ratio measured in the same run; in the memory round it is measured right after this build),
 *        --node-args "FLAGS" (node/V8 flags for the Weir processes,
 *        e.g. "--max-semi-space-size=64"; recorded in the report)
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { spawnSync } from 'node:child_process'
import { renderSummary, summariseFile } from './lib/cpuprofile.js'
import { autocannon, rate, type LoadResult } from './lib/load.js'
import { freePort, pinSelf, plan, rssMiB, startProc, type Proc } from './lib/procs.js'
import type { ScheduleResult } from './lib/rate.js'
import { evaluate, measureOf, renderMarkdown, type Measure, type RateMeasure } from './lib/report.js'
import { stalledReaders } from './lib/stall.js'
import { setupWorld, type World } from './lib/world.js'
import { ROOT, VERSION } from '../lib/version.js'

const { values } = parseArgs({ options: {
  quick: { type: 'boolean' }, repeat: { type: 'string' }, duration: { type: 'string' }, workers: { type: 'string' },
  reference: { type: 'boolean' }, only: { type: 'string' }, profile: { type: 'boolean' }, baseline: { type: 'string' }, 'node-args': { type: 'string' },
} })
const quick = values.quick === true
const cores = availableParallelism()
const repeat = Number(values.repeat ?? (quick ? 1 : 3))
const duration = Number(values.duration ?? (quick ? 3 : 10))
const nWorkers = Number(values.workers ?? Math.max(2, cores / 2))
const only = values.only?.split(',')
/** Extra node/V8 flags for every Weir process under test (e.g. `--max-semi-space-size=64`). */
const weirNodeArgs = values['node-args']?.split(' ').filter((a) => a !== '') ?? []
const want = (s: string): boolean => only === undefined ? s !== 'profile' || values.profile === true : only.includes(s)
const log = (s: string): void => { process.stderr.write(s + '\n') }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Run each target's load in turns, `repeat` rounds, after one short warm-up pass. */
async function rounds<R> (targets: Array<[string, (durationS: number) => Promise<R>]>, show: (r: R) => string): Promise<Map<string, R[]>> {
  const out = new Map<string, R[]>(targets.map(([l]) => [l, []]))
  for (const [, fn] of targets) await fn(quick ? 1 : 2)
  for (let i = 0; i < repeat; i++) {
    for (const [label, fn] of targets) {
      const r = await fn(duration)
      ;(out.get(label) as R[]).push(r)
      log(`  ${label} #${i + 1}: ${show(r)}`)
    }
  }
  return out
}
const showLoad = (r: LoadResult): string => `${r.reqPerSec.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms errors ${r.errors} non2xx ${r.non2xx}`
const showRate = (r: { main: ScheduleResult, big?: ScheduleResult }): string =>
  `${r.main.rate} req/s total p50 ${r.main.total.p50} p99 ${r.main.total.p99} ttfb p50 ${r.main.ttfb.p50} p99 ${r.main.ttfb.p99} ms; errors ${r.main.errors} non2xx ${r.main.non2xx}${r.big !== undefined ? `; uploads ${r.big.rate}/s p50 ${r.big.total.p50} ms` : ''}`

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-'))
  const one = plan(cores, 1)
  const many = plan(cores, nWorkers)
  pinSelf(one.others)
  const world: World = await setupWorld(dir, { reference: values.reference === true })
  const refVersion = world.reference ? spawnSync(join(ROOT, 'node_modules/@anthropic-ai/claude-code-linux-x64/claude'), ['--version'], { encoding: 'utf8' }).stdout.trim() : undefined
  const results: Record<string, any> = { // eslint-disable-line @typescript-eslint/no-explicit-any
    stamp: new Date().toISOString(),
    machine: { cores, node: process.version, weir: VERSION, platform: `${process.platform}-${process.arch}`, cpu: world.cpuModel, taskset: world.taskset, ...(refVersion !== undefined ? { reference: refVersion } : {}) },
    settings: { repeat, duration, nWorkers, quick, ...(weirNodeArgs.length > 0 ? { weirNodeArgs } : {}), ...(values.baseline !== undefined ? { baseline: baselineOf(values.baseline) } : {}) },
    scenarios: {},
  }
  const scenarios = results.scenarios as Record<string, unknown>
  const procs: Proc[] = []
  const stopAll = async (): Promise<void> => { for (const p of procs.splice(0)) await p.stop().catch(() => {}) }
  process.on('SIGINT', () => { void stopAll().then(async () => { await world.close() }).then(() => process.exit(130)) })
  const pidOf = (name: string): number | undefined => procs.find((p) => p.name === name)?.child.pid

  const startBare = async (workers: number, coreList: string): Promise<string> => {
    const port = await freePort()
    procs.push(await startProc('bare', process.execPath, [resolve(ROOT, 'dist/bench/bare-proxy.js'), '--port', String(port), '--upstream', world.upstreamUrl, '--workers', String(workers)], { cores: coreList, ready: /listening/ }))
    return `http://127.0.0.1:${port}`
  }
  const startWeir = async (workers: number, coreList: string, nodeArgs?: string[], root?: string): Promise<string> => {
    const w = await world.startWeir(workers, coreList, [...weirNodeArgs, ...(nodeArgs ?? [])], root)
    procs.push(w.proc)
    return w.url
  }
  const load = (url: string, connections: number, body: string, durationS: number, coreList = one.others): Promise<LoadResult> =>
    autocannon({ url: `${url}/v1/messages`, connections, durationS, headers: world.headers, bodyFile: body, cores: coreList })
  const openLoop = (url: string, r: number, durationS: number, big?: { rate: number }) =>
    rate({ url: `${url}/v1/messages`, rate: r, durationS, warmupS: 1, headers: world.headers, bodyFile: world.shortBody, cores: one.others, ...(big !== undefined ? { bigBodyFile: world.bigBody, bigRate: big.rate } : {}) })

  try {
    if (want('short')) {
      log('scenario: short streams (20 events at once), 50 connections — targets a, b, h')
      await world.restartUpstream(20, 0, one.others)
      const urls: Record<string, string> = { direct: world.upstreamUrl, 'bare-1w': await startBare(1, one.gateway), 'weir-1w': await startWeir(1, one.gateway) }
      if (values.baseline !== undefined) urls['baseline-1w'] = await startWeir(1, one.gateway, [], resolve(values.baseline))
      if (world.reference) urls.reference = (await (async () => { const r = await world.startReference(one.gateway); procs.push(r.proc); return r.url })())
      const got = await rounds(Object.entries(urls).map(([l, u]) => [l, (d: number) => load(u, 50, world.shortBody, d)]), showLoad)
      const rss = rssMiB(pidOf('weir'))
      await stopAll()
      log(`  ${nWorkers} workers on ${many.gateway}`)
      await world.restartUpstream(20, 0, many.others)
      const nUrls = { [`bare-${nWorkers}w`]: await startBare(nWorkers, many.gateway), [`weir-${nWorkers}w`]: await startWeir(nWorkers, many.gateway) }
      const gotN = await rounds(Object.entries(nUrls).map(([l, u]) => [l, (d: number) => load(u, 50, world.shortBody, d, many.others)]), showLoad)
      await stopAll()
      const measures: Measure[] = [...got, ...gotN].map(([l, runs]) => measureOf(l, runs))
      scenarios.short = { measures, weirRssMiB: rss, nWorkers, layout1: one, layoutN: many, sharedCores: many.shared }
    }
    // Right after the short-stream runs, on a fresh machine state (see bench/README.md, known issues).
    if (want('profile')) {
      log('profile: one Weir worker under the short load with --cpu-prof')
      const profDir = join(dir, 'profile')
      mkdirSync(profDir, { recursive: true })
      await world.restartUpstream(20, 0, one.others)
      const weir = await startWeir(1, one.gateway, ['--cpu-prof', `--cpu-prof-dir=${profDir}`])
      const r = await load(weir, 50, world.shortBody, duration)
      log(`  ${showLoad(r)} (under the profiler)`)
      await stopAll()
      // The HTTP worker thread's profile is the largest one (the primary and pool threads idle).
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f))
      const sums = files.map((f) => ({ f, s: summariseFile(f) })).sort((a, b) => b.s.busyMs - a.s.busyMs)
      const top = sums[0]
      if (top !== undefined) {
        const outDir = resolve(ROOT, 'bench', 'results')
        mkdirSync(outDir, { recursive: true })
        writeFileSync(join(outDir, 'profile-latest.md'), `# CPU profile of one Weir worker under the short-stream load\n\n${results.stamp}; ${r.reqPerSec.toFixed(0)} req/s under the profiler. Profile: ${top.f}\n\n${renderSummary(top.s, 40)}`)
        scenarios.profile = { file: top.f, reqPerSec: r.reqPerSec, busyMs: top.s.busyMs, byFile: top.s.byFile.slice(0, 25), byFunction: top.s.byFunction.slice(0, 40) }
        log(`  profile: ${top.f} (bench/results/profile-latest.md)`)
      }
    }
    if (want('latency')) {
      const r = 1000
      log(`scenario: added latency at a fixed ${r} req/s — target c`)
      await world.restartUpstream(20, 0, one.others)
      const bare = await startBare(1, one.gateway)
      const weir = await startWeir(1, one.gateway)
      const got = await rounds([['direct', (d) => openLoop(world.upstreamUrl, r, d)], ['bare-1w', (d) => openLoop(bare, r, d)], ['weir-1w', (d) => openLoop(weir, r, d)]], showRate)
      await stopAll()
      scenarios.latency = { rate: r, measures: [...got].map(([label, runs]): RateMeasure => ({ label, runs: runs.map((x) => x.main) })) }
    }
    if (want('ttfb')) {
      const r = 100
      log('scenario: time to first byte, 20 events 10 ms apart — target d')
      await world.restartUpstream(20, 10, one.others)
      const weir = await startWeir(1, one.gateway)
      const got = await rounds([['direct', (d) => openLoop(world.upstreamUrl, r, d)], ['weir-1w', (d) => openLoop(weir, r, d)]], showRate)
      await stopAll()
      scenarios.ttfb = { rate: r, measures: [...got].map(([label, runs]): RateMeasure => ({ label, runs: runs.map((x) => x.main) })) }
    }
    if (want('big')) {
      const r = 500
      const bigRate = 20
      log(`scenario: short requests at ${r}/s with and without 1 MiB uploads at ${bigRate}/s — target g`)
      await world.restartUpstream(20, 0, one.others)
      const weir = await startWeir(1, one.gateway)
      const got = await rounds([
        ['direct', (d) => openLoop(world.upstreamUrl, r, d)],
        ['direct + uploads', (d) => openLoop(world.upstreamUrl, r, d, { rate: bigRate })],
        ['weir-1w', (d) => openLoop(weir, r, d)],
        ['weir-1w + uploads', (d) => openLoop(weir, r, d, { rate: bigRate })],
      ], showRate)
      log('  1 MiB bodies, throughput')
      const thr = await rounds([['direct', (d) => load(world.upstreamUrl, 10, world.bigBody, d)], ['weir-1w', (d) => load(weir, 10, world.bigBody, d)]], showLoad)
      await stopAll()
      scenarios.big = { rate: r, bigRate, measures: [...got].map(([label, runs]): RateMeasure => ({ label, runs: runs.map((x) => x.main), ...(runs[0]?.big !== undefined ? { big: runs.map((x) => x.big as ScheduleResult) } : {}) })) }
      scenarios.bigThroughput = { measures: [...thr].map(([l, runs]) => measureOf(l, runs)) }
    }
    if (want('slow')) {
      log('scenario: long slow streams (20 events, 50 ms apart), 200 connections')
      await world.restartUpstream(20, 50, one.others)
      const weir = await startWeir(1, one.gateway)
      const got = await rounds([['direct', (d) => load(world.upstreamUrl, 200, world.shortBody, d)], ['weir-1w', (d) => load(weir, 200, world.shortBody, d)]], showLoad)
      await stopAll()
      scenarios.slow = { measures: [...got].map(([l, runs]) => measureOf(l, runs)) }
    }
    if (want('memory')) {
      const streams = 1000
      const events = 40
      const delay = 100
      log(`scenario: ${streams} concurrent slow streams on one worker (RSS) — target e`)
      // With --baseline, the other build is measured right after this one, in the same world.
      const measureMemory = async (root?: string) => {
        await world.restartUpstream(events, delay, one.others)
        const weir = await startWeir(1, one.gateway, [], root)
        await load(weir, 10, world.shortBody, 2)
        await sleep(1000)
        const pid = pidOf('weir')
        const idle = rssMiB(pid)
        let peak = idle
        let concurrent = 0
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssMiB(pid))
          void upstreamStats(world.upstreamUrl).then((s) => { concurrent = Math.max(concurrent, s.open) }, () => {})
        }, 200)
        const r = await load(weir, streams, world.shortBody, Math.max(duration, quick ? 6 : 12))
        clearInterval(sampler)
        await stopAll()
        log(`  ${root === undefined ? 'weir' : 'baseline'}: RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, ${concurrent} upstream streams open at most`)
        return { streams, streamS: (events + 5) * delay / 1000, idleRssMiB: idle, peakRssMiB: peak, concurrent, reqPerSec: r.reqPerSec, errors: r.errors, non2xx: r.non2xx }
      }
      scenarios.memory = await measureMemory()
      if (values.baseline !== undefined) (scenarios.memory as Record<string, unknown>).baseline = await measureMemory(resolve(values.baseline))
    }
    if (want('stalled')) {
      const readers = quick ? 20 : 50
      const streamBytes = 64 * 1024 * 1024
      log(`scenario: ${readers} stalled readers of ${streamBytes >> 20} MiB streams — target f`)
      await world.restartUpstream(20, 0, one.others, streamBytes)
      const weir = await startWeir(1, one.gateway)
      // Warm up the path with a few complete firehose replies read to the end.
      await load(weir, 2, world.shortBody, 2)
      await sleep(1500)
      const pid = pidOf('weir')
      const base = rssMiB(pid)
      const before = await upstreamStats(world.upstreamUrl)
      const st = await stalledReaders(weir, '/v1/messages', world.headers, Buffer.from(world.shortBodyText), readers)
      // Wait for the plateau: RSS and the upstream's byte count stop moving.
      let plateau = base
      let last = -1
      for (let i = 0; i < 60; i++) {
        await sleep(250)
        const now = await upstreamStats(world.upstreamUrl)
        plateau = Math.max(plateau, rssMiB(pid))
        if (now.written === last && i >= 12) break
        last = now.written
      }
      await sleep(500)
      plateau = Math.max(plateau, rssMiB(pid))
      const during = await upstreamStats(world.upstreamUrl)
      const started = await st.check()
      await sleep(2000)
      const after = await upstreamStats(world.upstreamUrl)
      await stopAll()
      const growth = plateau - base
      scenarios.stalled = {
        readers, streamMiB: streamBytes / 1048576, baseRssMiB: base, plateauRssMiB: plateau, growthMiB: growth, perStreamMiB: Math.max(0, growth) / readers,
        upstreamPerStreamMiB: (during.written - before.written) / readers / 1048576, upstreamOpen: during.open, started, upstreamOpenAfterClose: after.open,
      }
      log(`  RSS ${base.toFixed(0)} → ${plateau.toFixed(0)} MiB; upstream wrote ${((during.written - before.written) / readers / 1048576).toFixed(2)} MiB/stream; open ${during.open}, after close ${after.open}; started ${started}`)
    }
  } finally {
    await stopAll()
    await world.close()
  }
  if (want('reports')) {
    // Its own process, Postgres database and report (bench/reports.ts → results/reports-latest.md).
    log('scenario: report endpoints at fleet scale (bench/reports.ts)')
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/reports.js'), ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] })
    scenarios.reports = { status: r.status, report: 'bench/results/reports-latest.md' }
  }
  results.targets = evaluate(results)
  const stamp = (results.stamp as string).replace(/[:.]/g, '-')
  const outDir = resolve(ROOT, 'bench', 'results')
  mkdirSync(outDir, { recursive: true })
  const md = renderMarkdown(results)
  for (const name of [stamp, 'latest']) {
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(results, null, 2) + '\n')
    writeFileSync(join(outDir, `${name}.md`), md)
  }
  process.stdout.write(md)
}

/** The baseline checkout's commit, for the report. */
function baselineOf (dir: string): string {
  const r = spawnSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : resolve(dir)
}

async function upstreamStats (url: string): Promise<{ open: number, written: number }> {
  const r = await fetch(`${url}/stats`)
  return await r.json() as { open: number, written: number }
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
