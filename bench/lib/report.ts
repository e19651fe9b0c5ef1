/**
 * Statistics over repeated runs and the Markdown report.
 */
import type { LoadResult } from './load.js'

export interface Stat { min: number, median: number, max: number }

export function stats (xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0] ?? NaN, median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN }
}

export interface Measure { label: string, runs: LoadResult[], reqPerSec: Stat, p50: Stat, p99: Stat }

const f0 = (n: number): string => Number.isFinite(n) ? n.toFixed(0) : '—'
const f2 = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : '—'
const cell = (s: Stat, fmt: (n: number) => string): string => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`

function table (ms: Measure[]): string {
  const rows = ms.map((m) => `| ${m.label} | ${cell(m.reqPerSec, f0)} | ${cell(m.p50, f2)} | ${cell(m.p99, f2)} | ${m.runs.reduce((a, r) => a + r.errors + r.non2xx, 0)} |`)
  return ['| target | req/s median (min–max) | p50 ms | p99 ms | errors+non-2xx |', '|---|---|---|---|---|', ...rows].join('\n')
}

const byLabel = (ms: Measure[], prefix: string): Measure | undefined => ms.find((m) => m.label === prefix)
const ratio = (a: Measure | undefined, b: Measure | undefined): string =>
  a === undefined || b === undefined ? '—' : `${(a.reqPerSec.median / b.reqPerSec.median).toFixed(2)}×`

export function renderMarkdown (r: Record<string, any>): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const m = r.machine
  const out: string[] = [`# Weir benchmark report`, '',
    `Machine: ${m.cores} cores (${m.cpu}), ${m.platform}, Node ${m.node}, Weir ${m.weir}; taskset pinning ${m.taskset ? 'on' : 'off'}.`,
    `Each figure: median (min–max) of ${r.settings.repeat} run(s) of ${r.settings.duration} s. Absolute numbers depend on the machine; compare ratios.`, '']
  const s = r.scenarios
  if (s.short !== undefined) {
    const ms = s.short.measures as Measure[]
    const w1 = byLabel(ms, 'weir-1w')
    const wn = ms.find((x) => /^weir-\d+w$/.test(x.label) && x.label !== 'weir-1w')
    out.push('## Short streams (20 SSE events, no delay, 50 connections)', '', table(ms), '',
      `- Weir (1 worker) vs bare pass-through (1 worker): ${ratio(w1, byLabel(ms, 'bare-1w'))}`,
      `- Weir (1 worker) vs reference gateway: ${ratio(w1, byLabel(ms, 'reference'))}`,
      `- Weir (${wn?.label ?? 'N'}) vs Weir (1 worker): ${ratio(wn, w1)}`,
      `- Weir RSS after the 1-worker run: ${f0(s.short.weirRssMiB)} MiB`, '')
  }
  if (s.latency !== undefined) {
    const [d, w] = s.latency.measures as Measure[]
    out.push('## Added latency at 1,000 req/s', '', table(s.latency.measures), '',
      `- Added p50: ${f2((w?.p50.median ?? NaN) - (d?.p50.median ?? NaN))} ms, added p99: ${f2((w?.p99.median ?? NaN) - (d?.p99.median ?? NaN))} ms (autocannon reports whole-millisecond latencies)`, '')
  }
  if (s.ttfb !== undefined) {
    out.push('## Time to first byte (20 events 10 ms apart)', '',
      `| target | TTFB p50 ms | TTFB p99 ms | total p50 ms |`, '|---|---|---|---|',
      `| direct | ${f2(s.ttfb.direct.p50)} | ${f2(s.ttfb.direct.p99)} | ${f2(s.ttfb.direct.totalP50)} |`,
      `| weir-1w | ${f2(s.ttfb.weir.p50)} | ${f2(s.ttfb.weir.p99)} | ${f2(s.ttfb.weir.totalP50)} |`, '',
      `- Added TTFB: p50 ${f2(s.ttfb.addedP50)} ms, p99 ${f2(s.ttfb.addedP99)} ms`, '')
  }
  if (s.slow !== undefined) out.push('## Long slow streams (20 events 50 ms apart, 200 connections)', '', table(s.slow.measures), '')
  if (s.big !== undefined) out.push('## 1 MiB request bodies (10 connections)', '', table(s.big.measures), '')
  if (s.memory !== undefined) {
    out.push('## Memory: 1,000 concurrent slow streams on one worker', '',
      `- RSS idle ${f0(s.memory.idleRssMiB)} MiB, peak ${f0(s.memory.peakRssMiB)} MiB; ${f0(s.memory.reqPerSec)} req/s, errors ${s.memory.errors}, non-2xx ${s.memory.non2xx}`, '')
  }
  return out.join('\n') + '\n'
}
