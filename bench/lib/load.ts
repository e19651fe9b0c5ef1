/**
 * Load generation: autocannon as a separate process (so it does not share the orchestrator's
 * event loop), pinned to its cores, JSON results; and a small undici client that measures time to
 * first byte, which autocannon cannot (it times whole responses).
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { request } from 'undici'
import { HAVE_TASKSET } from './procs.js'

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js')

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
  const [file, argv] = s.cores !== undefined && HAVE_TASKSET ? ['taskset', ['-c', s.cores, process.execPath, ...args]] : [process.execPath, args]
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let o = ''
    let e = ''
    c.stdout.on('data', (d: Buffer) => { o += d.toString() })
    c.stderr.on('data', (d: Buffer) => { e += d.toString() })
    c.once('exit', (code) => code === 0 ? resolve(o) : reject(new Error(`autocannon exited ${code}: ${e.slice(-2000)}`)))
  })
  const j = JSON.parse(out) as { requests: { average: number, total: number }, latency: { p50: number, p99: number }, errors: number, non2xx: number, timeouts: number }
  return { reqPerSec: j.requests.average, p50: j.latency.p50, p99: j.latency.p99, errors: j.errors + j.timeouts, non2xx: j.non2xx, total: j.requests.total }
}

/** Sequential requests; returns time-to-first-byte and total time percentiles in ms. */
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
