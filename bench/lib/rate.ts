/**
 * Open-loop, fixed-rate load client with sub-millisecond latency percentiles (autocannon only
 * reports whole milliseconds, and closed-loop clients hide queueing). Runs as its own process,
 * pinned by the orchestrator (bench/lib/load.ts `rate()`):
 *
 *   node dist/bench/lib/rate.js --url http://127.0.0.1:8080/v1/messages --rate 1000 --duration 10 \
 *     --body short.json --headers '{"authorization":"Bearer …"}' [--warmup 1] \
 *     [--big-body big.json --big-rate 20]
 *
 * Requests are started on a fixed schedule (`rate` per second, checked every timer tick, so a late
 * tick sends the requests that are due back to back) whether or not earlier ones have finished,
 * over an undici pool with enough connections that none waits for a free one. Each request is
 * timed with `performance.now()` from the moment it is handed to undici to its first body byte
 * (TTFB) and to its last (total). Requests started during the warm-up are not counted.
 *
 * `--big-body/--big-rate` add a second schedule on separate connections (e.g. 1 MiB uploads) whose
 * figures are reported apart, so its effect on the first schedule can be read directly.
 *
 * Prints one JSON object on stdout: per schedule `{sent, done, errors, non2xx, rate, ttfb, total}`
 * where `ttfb` and `total` are `{p50, p90, p99, p999, max}` in milliseconds.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'

export interface Percentiles { p50: number, p90: number, p99: number, p999: number, max: number }
export interface ScheduleResult { sent: number, done: number, errors: number, non2xx: number, rate: number, ttfb: Percentiles, total: Percentiles }
export interface RateResult { main: ScheduleResult, big?: ScheduleResult }

function percentiles (xs: Float64Array): Percentiles {
  const s = Float64Array.from(xs).sort()
  const at = (p: number): number => s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))] as number
  const r3 = (n: number): number => Math.round(n * 1000) / 1000
  return { p50: r3(at(0.5)), p90: r3(at(0.9)), p99: r3(at(0.99)), p999: r3(at(0.999)), max: r3(s.length === 0 ? NaN : s[s.length - 1] as number) }
}

class Schedule {
  sent = 0
  counted = 0
  done = 0
  errors = 0
  non2xx = 0
  private readonly ttfb: Float64Array
  private readonly total: Float64Array
  private n = 0
  private readonly pool: Pool
  private readonly path: string

  constructor (url: URL, private readonly rate: number, private readonly headers: Record<string, string>, private readonly body: Buffer, capacity: number) {
    this.pool = new Pool(url.origin, { connections: 512, pipelining: 1, keepAliveTimeout: 60_000 })
    this.path = url.pathname + url.search
    this.ttfb = new Float64Array(capacity)
    this.total = new Float64Array(capacity)
  }

  /** Start every request due by `elapsedMs` since the schedule began. */
  tick (elapsedMs: number, counting: boolean): void {
    const due = Math.floor(elapsedMs * this.rate / 1000)
    while (this.sent < due) { this.sent++; this.fire(counting) }
  }

  private fire (counting: boolean): void {
    if (counting) this.counted++
    const t0 = performance.now()
    let first = 0
    let status = 0
    this.pool.dispatch({ path: this.path, method: 'POST', headers: this.headers, body: this.body }, {
      onConnect: () => {},
      onHeaders: (s: number) => { status = s; return true },
      onData: () => { if (first === 0) first = performance.now(); return true },
      onComplete: () => {
        const t2 = performance.now()
        this.done++
        if (status < 200 || status >= 300) { this.non2xx++; return }
        if (!counting || this.n >= this.ttfb.length) return
        this.ttfb[this.n] = (first === 0 ? t2 : first) - t0
        this.total[this.n] = t2 - t0
        this.n++
      },
      onError: () => { this.done++; this.errors++ },
    } as never)
  }

  result (measuredS: number): ScheduleResult {
    return {
      sent: this.counted,
      done: this.n,
      errors: this.errors,
      non2xx: this.non2xx,
      rate: Math.round(this.n / measuredS),
      ttfb: percentiles(this.ttfb.subarray(0, this.n)),
      total: percentiles(this.total.subarray(0, this.n)),
    }
  }

  get inflight (): number { return this.sent - this.done }
  async close (): Promise<void> { await this.pool.destroy() }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: {
    url: { type: 'string' }, rate: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' },
    body: { type: 'string' }, headers: { type: 'string' }, 'big-body': { type: 'string' }, 'big-rate': { type: 'string' },
  } })
  const url = new URL(values.url as string)
  const rate = Number(values.rate ?? 1000)
  const durationS = Number(values.duration ?? 10)
  const warmupS = Number(values.warmup ?? 1)
  const headers = JSON.parse(values.headers ?? '{}') as Record<string, string>
  const body = readFileSync(values.body as string)
  const main = new Schedule(url, rate, { ...headers, 'content-length': String(body.length) }, body, Math.ceil(rate * durationS * 1.2) + 16)
  let big: Schedule | null = null
  if (values['big-body'] !== undefined) {
    const b = readFileSync(values['big-body'])
    const r = Number(values['big-rate'] ?? 10)
    big = new Schedule(url, r, { ...headers, 'content-length': String(b.length) }, b, Math.ceil(r * durationS * 1.2) + 16)
  }
  const start = performance.now()
  const endMs = (warmupS + durationS) * 1000
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - start
      if (elapsed >= endMs) { resolve(); return }
      const counting = elapsed >= warmupS * 1000
      main.tick(elapsed, counting)
      big?.tick(elapsed, counting)
      setTimeout(tick, 1)
    }
    tick()
  })
  // Let the requests in flight finish (bounded), then report.
  const drainUntil = performance.now() + 30_000
  while ((main.inflight > 0 || (big?.inflight ?? 0) > 0) && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5))
  const out: RateResult = { main: main.result(durationS) }
  if (big !== null) out.big = big.result(durationS)
  process.stdout.write(JSON.stringify(out) + '\n')
  await main.close()
  await big?.close()
}

main().catch((err: unknown) => { process.stderr.write(`rate client failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
