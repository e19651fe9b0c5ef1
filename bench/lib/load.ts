/**
 * Load generation, always in a separate process pinned to its cores (so it shares neither the
 * orchestrator's event loop nor the gateway's core): autocannon for closed-loop throughput
 * (req/s at a fixed number of connections), and bench/lib/rate.ts for open-loop latency at a fixed
 * request rate with sub-millisecond percentiles and time to first byte, which autocannon cannot give
 * (it reports whole milliseconds and times whole responses).
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { HAVE_TASKSET } from './procs.js'
import type { RateResult } from './rate.js'

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js')
const RATE = fileURLToPath(new URL('./rate.js', import.meta.url))

export interface LoadResult {
  reqPerSec: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  total: number
}

export interface LoadSpec {
  url: string
  connections: number
  durationS: number
  headers: Record<string, string>
  bodyFile: string
  /** Fixed overall request rate (requests/second), when set. */
  rate?: number
  cores?: string
  /** autocannon worker threads (default 1). */
  workers?: number
}

export async function autocannon (s: LoadSpec): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(s.connections), '-d', String(s.durationS), '-m', 'POST', '-i', s.bodyFile, '-t', '60', '-p', '1']
  for (const [k, v] of Object.entries(s.headers)) args.push('-H', `${k}: ${v}`)
  if (s.rate !== undefined) args.push('-R', String(s.rate))
  if (s.workers !== undefined && s.workers > 1) args.push('-w', String(s.workers))
  args.push(s.url)
  const out = await run(args, s.cores, 'autocannon')
  const j = JSON.parse(out) as { requests: { average: number, total: number }, latency: { p50: number, p99: number }, errors: number, non2xx: number, timeouts: number }
  return { reqPerSec: j.requests.average, p50: j.latency.p50, p99: j.latency.p99, errors: j.errors + j.timeouts, non2xx: j.non2xx, total: j.requests.total }
}

/** Spawn `--args` of bench/lib/rate.ts pinned to `cores`; resolve with its JSON result. */
export async function rate (s: RateSpec): Promise<RateResult> {
  const args = [RATE, '--url', s.url, '--rate', String(s.rate), '--duration', String(s.durationS), '--warmup', String(s.warmupS ?? 1),
    '--body', s.bodyFile, '--headers', JSON.stringify(s.headers)]
  if (s.bigBodyFile !== undefined) args.push('--big-body', s.bigBodyFile, '--big-rate', String(s.bigRate ?? 10))
  return JSON.parse(await run(args, s.cores, 'rate client')) as RateResult
}

export interface RateSpec {
  url: string
  rate: number
  durationS: number
  warmupS?: number
  headers: Record<string, string>
  bodyFile: string
  /** A second schedule of (big) requests on their own connections. */
  bigBodyFile?: string
  bigRate?: number
  cores?: string
}

/** Run a Node script pinned to `cores`; resolves with its stdout, rejects on a non-zero exit. */
async function run (args: string[], cores: string | undefined, what: string): Promise<string> {
  const [file, argv] = cores !== undefined && HAVE_TASKSET ? ['taskset', ['-c', cores, process.execPath, ...args]] : [process.execPath, args]
  return await new Promise<string>((resolve, reject) => {
    const c = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let o = ''
    let e = ''
    c.stdout.on('data', (d: Buffer) => { o += d.toString() })
    c.stderr.on('data', (d: Buffer) => { e += d.toString() })
    c.once('exit', (code) => code === 0 ? resolve(o) : reject(new Error(`${what} exited ${code}: ${e.slice(-2000)}`)))
  })
}

/**
 * Sequential requests in this process (used by bench/eventstream.ts); returns time-to-first-byte
 * and total time percentiles in ms. The suite itself uses `rate()` instead.
 */
export async function ttfb (url: string, headers: Record<string, string>, body: string, n: number): Promise<{ p50: number, p99: number, totalP50: number }> {
  const first: number[] = []
  const total: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const r = await request(url, { method: 'POST', headers, body })
    let t1 = 0
    for await (const _chunk of r.body) { if (t1 === 0) t1 = performance.now() }
    const t2 = performance.now()
    if (r.statusCode !== 200) throw new Error(`ttfb: status ${r.statusCode}`)
    first.push(t1 - t0)
    total.push(t2 - t0)
  }
  const pct = (a: number[], p: number): number => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number }
  return { p50: pct(first, 0.5), p99: pct(first, 0.99), totalP50: pct(total, 0.5) }
}
