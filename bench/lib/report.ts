/**
 * Statistics over repeated runs, the issue's targets evaluated from them, and the Markdown report.
 *
 * Every ratio is computed per round — the targets it compares were measured back to back in the
 * same round (A, B, C, A, B, C, …), so drift from anything else on the machine hits both alike — and
 * reported as the median of the rounds with their min–max.
 */
import type { LoadResult } from './load.js'
import type { ScheduleResult } from './rate.js'

export interface Stat { min: number, median: number, max: number }

export function stats (xs: number[]): Stat {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return { min: s[0] ?? NaN, median: s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2, max: s[s.length - 1] ?? NaN }
}

/** Closed-loop throughput runs of one target (autocannon). */
export interface Measure { label: string, runs: LoadResult[], reqPerSec: Stat, p50: Stat, p99: Stat }
/** Open-loop runs of one target (bench/lib/rate.ts); `big` holds the second schedule when there was one. */
export interface RateMeasure { label: string, runs: ScheduleResult[], big?: ScheduleResult[] }

export function measureOf (label: string, runs: LoadResult[]): Measure {
  return { label, runs, reqPerSec: stats(runs.map((r) => r.reqPerSec)), p50: stats(runs.map((r) => r.p50)), p99: stats(runs.map((r) => r.p99)) }
}

/** Per-round `f(a_i, b_i)` over two index-aligned run lists. */
export function perRound<A, B> (a: A[] | undefined, b: B[] | undefined, f: (x: A, y: B) => number): Stat {
  if (a === undefined || b === undefined) return stats([])
  return stats(a.slice(0, b.length).map((x, i) => f(x, b[i] as B)))
}

export interface Target {
  id: string
  what: string
  target: string
  /** The measured figure, as text (median of rounds, min–max). */
  value: string
  /** null: not measurable in this run. */
  pass: boolean | null
  note?: string
}

const f0 = (n: number): string => Number.isFinite(n) ? n.toFixed(0) : '—'
const f2 = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : '—'
const f3 = (n: number): string => Number.isFinite(n) ? n.toFixed(3) : '—'
export const cell = (s: Stat, fmt: (n: number) => string, unit = ''): string => `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})`

/* eslint-disable @typescript-eslint/no-explicit-any */
type Results = Record<string, any>
const find = (ms: Measure[] | undefined, label: string): Measure | undefined => ms?.find((m) => m.label === label)
const findR = (ms: RateMeasure[] | undefined, label: string): RateMeasure | undefined => ms?.find((m) => m.label === label)

/** Per-round p50 and p99 of `label` minus calling the upstream `direct`ly, for the whole reply or its first byte. */
function added (ms: RateMeasure[], label: string, field: 'total' | 'ttfb'): { p50: Stat, p99: Stat } {
  const a = findR(ms, label)?.runs
  const d = findR(ms, 'direct')?.runs
  return { p50: perRound(a, d, (x, y) => x[field].p50 - y[field].p50), p99: perRound(a, d, (x, y) => x[field].p99 - y[field].p99) }
}

/** The issue's targets, from whatever scenarios ran. */
export function evaluate (r: Results): Target[] {
  const s = r.scenarios
  const out: Target[] = []
  const short = s.short?.measures as Measure[] | undefined
  if (short !== undefined) {
    const w1 = find(short, 'weir-1w')
    const ref = find(short, 'reference')
    const vsRef = perRound(w1?.runs, ref?.runs, (a, b) => a.reqPerSec / b.reqPerSec)
    out.push({ id: 'a', what: 'Weir, 1 worker on 1 core, vs the reference gateway (req/s, 20-event SSE, 50 connections, auth + routing + policy + metering on)', target: '≥ 4×', value: ref === undefined ? 'not run (needs --reference)' : cell(vsRef, f2, '×'), pass: ref === undefined ? null : vsRef.median >= 4 })
    const vsBare = perRound(w1?.runs, find(short, 'bare-1w')?.runs, (a, b) => a.reqPerSec / b.reqPerSec)
    out.push({ id: 'b', what: 'Weir, 1 worker, vs the bare uWS→undici pass-through (the ceiling), same run', target: '≥ 60%', value: cell({ min: vsBare.min * 100, median: vsBare.median * 100, max: vsBare.max * 100 }, f0, '%'), pass: vsBare.median >= 0.6 })
    const base = find(short, 'baseline-1w')
    if (base !== undefined) {
      const vsBase = perRound(w1?.runs, base.runs, (a, b) => a.reqPerSec / b.reqPerSec)
      out.push({ id: 'Δ', what: `Weir, 1 worker, vs the --baseline checkout (${String(r.settings.baseline)}), same run`, target: 'before/after', value: cell(vsBase, f2, '×'), pass: null })
    }
  }
  const lat = s.latency?.measures as RateMeasure[] | undefined
  if (lat !== undefined) {
    const { p50, p99 } = added(lat, 'weir-1w', 'total')
    const bare = added(lat, 'bare-1w', 'total')
    const ceiling = findR(lat, 'bare-1w') === undefined ? '' : `; the bare pass-through adds p50 +${f3(bare.p50.median)} ms, p99 +${f3(bare.p99.median)} ms`
    out.push({ id: 'c', what: `Added latency over calling the fake upstream directly, at a fixed ${s.latency.rate} req/s (whole 20-event reply)`, target: 'p50 < 0.3 ms, p99 < 1 ms', value: `p50 +${cell(p50, f3, ' ms')}, p99 +${cell(p99, f3, ' ms')}${ceiling}`, pass: p50.median < 0.3 && p99.median < 1 })
  }
  const tt = s.ttfb?.measures as RateMeasure[] | undefined
  if (tt !== undefined) {
    const { p50, p99 } = added(tt, 'weir-1w', 'ttfb')
    out.push({ id: 'd', what: 'Time to first byte through Weir vs the upstream\'s own (streams of 20 events 10 ms apart)', target: 'within 1 ms (p50 and p99)', value: `p50 +${cell(p50, f3, ' ms')}, p99 +${cell(p99, f3, ' ms')}`, pass: p50.median <= 1 && p99.median <= 1 })
  }
  if (s.memory !== undefined) {
    const m = s.memory
    out.push({ id: 'e', what: `One worker holding ${m.streams} concurrent slow streams: peak RSS of the whole Weir process`, target: '< 150 MB (143 MiB)', value: `${f0(m.peakRssMiB)} MiB (idle ${f0(m.idleRssMiB)} MiB; ${f0(m.concurrent)} streams open at the peak)`, pass: m.peakRssMiB * 1024 * 1024 < 150e6 && m.concurrent >= 0.95 * m.streams, ...(m.note !== undefined ? { note: m.note } : {}) })
  }
  if (s.stalled !== undefined) {
    const x = s.stalled
    out.push({ id: 'f', what: `Stalled readers (${x.readers} clients that never read a ${f0(x.streamMiB)} MiB stream): gateway memory held per stalled stream`, target: '≤ ~1 MiB', value: `${f2(x.perStreamMiB)} MiB (RSS +${f0(x.growthMiB)} MiB for ${x.readers}); upstream sent ${f2(x.upstreamPerStreamMiB)} MiB per stream before backpressure stopped it`, pass: x.perStreamMiB <= 1.1 && x.started === x.readers && x.upstreamOpenAfterClose === 0 })
  }
  const big = s.big?.measures as RateMeasure[] | undefined
  if (big !== undefined) {
    // Weir's added latency for short requests, with concurrent 1 MiB uploads minus without.
    const add = (w: string, d: string, k: 'p50' | 'p99'): number[] => {
      const W = findR(big, w)?.runs ?? []
      const D = findR(big, d)?.runs ?? []
      return W.slice(0, D.length).map((x, i) => x.total[k] - (D[i] as ScheduleResult).total[k])
    }
    const diff = (k: 'p50' | 'p99'): Stat => { const a = add('weir-1w + uploads', 'direct + uploads', k); const b = add('weir-1w', 'direct', k); return stats(a.map((x, i) => x - (b[i] ?? NaN))) }
    const p50 = diff('p50')
    const p99 = diff('p99')
    out.push({ id: 'g', what: `1 MiB request bodies (${s.big.bigRate}/s) do not degrade short requests (${s.big.rate}/s): change in Weir's added short-request latency when the uploads run`, target: 'p50 ≤ +0.3 ms, p99 ≤ +1 ms', value: `p50 ${sign(p50.median)}${f3(p50.median)} ms (${f3(p50.min)}–${f3(p50.max)}), p99 ${sign(p99.median)}${f3(p99.median)} ms (${f3(p99.min)}–${f3(p99.max)})`, pass: p50.median <= 0.3 && p99.median <= 1 })
  }
  if (short !== undefined && s.short.nWorkers !== undefined) {
    const n = s.short.nWorkers as number
    const wn = perRound(find(short, `weir-${n}w`)?.runs, find(short, 'weir-1w')?.runs, (a, b) => a.reqPerSec / b.reqPerSec)
    const bn = perRound(find(short, `bare-${n}w`)?.runs, find(short, 'bare-1w')?.runs, (a, b) => a.reqPerSec / b.reqPerSec)
    out.push({ id: 'h', what: `${n} workers vs 1 worker on this ${r.machine.cores}-core machine${s.short.sharedCores === true ? ' (N workers share every core with the fake upstream and the load generator)' : ''}`, target: '8 workers on 8 cores ≥ 7× (16-core machine only)', value: `Weir ${cell(wn, f2, '×')}; bare pass-through ${cell(bn, f2, '×')}`, pass: null, note: 'The 8-core scaling target needs the 16-core device machine, which this run did not have.' })
  }
  return out
}

const sign = (n: number): string => n >= 0 ? '+' : ''

function table (ms: Measure[]): string {
  const rows = ms.map((m) => `| ${m.label} | ${cell(m.reqPerSec, f0)} | ${cell(m.p50, f0)} | ${cell(m.p99, f0)} | ${m.runs.reduce((a, r) => a + r.errors + r.non2xx, 0)} |`)
  return ['| target | req/s | p50 ms | p99 ms | errors + non-2xx |', '|---|---|---|---|---|', ...rows].join('\n')
}

function rateTable (ms: RateMeasure[], what: 'total' | 'ttfb', big = false): string {
  const rows = ms.map((m) => {
    const runs = big ? m.big ?? [] : m.runs
    const st = (k: 'p50' | 'p90' | 'p99' | 'p999'): string => cell(stats(runs.map((r) => r[what][k])), f3)
    return `| ${m.label}${big ? ' (uploads)' : ''} | ${f0(stats(runs.map((r) => r.rate)).median)} | ${st('p50')} | ${st('p90')} | ${st('p99')} | ${st('p999')} | ${runs.reduce((a, r) => a + r.errors + r.non2xx, 0)} |`
  })
  return [`| target | req/s | ${what} p50 ms | p90 ms | p99 ms | p99.9 ms | errors + non-2xx |`, '|---|---|---|---|---|---|---|', ...rows].join('\n')
}

export function renderMarkdown (r: Results): string {
  const m = r.machine
  const s = r.scenarios
  const out: string[] = ['# Weir benchmark report', '',
    `${r.stamp}. Machine: ${m.cores} cores (${m.cpu}), ${m.platform}, Node ${m.node}; Weir ${m.weir}${m.reference !== undefined ? `, reference \`claude gateway\` ${m.reference}` : ''}; taskset pinning ${m.taskset ? 'on' : 'off'}.`,
    ...(r.settings.baseline !== undefined ? [`Baseline checkout (\`--baseline\`): ${String(r.settings.baseline)}.`] : []),
    ...(r.settings.weirNodeArgs !== undefined ? [`Weir processes ran with node flags \`${(r.settings.weirNodeArgs as string[]).join(' ')}\`.`] : []),
    `Each figure: median (min–max) over ${r.settings.repeat} round(s); throughput runs last ${r.settings.duration} s. Targets measured against each other run in turns within each round. Absolute numbers depend on the machine; compare ratios.`, '',
    '## Targets (issue 10)', '', '| | target | measured | goal | met |', '|---|---|---|---|---|',
    ...(r.targets as Target[]).map((t) => `| ${t.id} | ${t.what} | ${t.value} | ${t.target} | ${t.pass === null ? 'n/a' : t.pass ? 'yes' : '**no**'} |`), '']
  for (const t of r.targets as Target[]) if (t.note !== undefined) out.push(`- (${t.id}) ${t.note}`)
  out.push('')
  if (s.short !== undefined) {
    out.push(`## Short streams (20 SSE events at once, 50 connections, autocannon)`, '',
      `Layout: 1-worker gateways on core ${s.short.layout1.gateway}, fake upstream and autocannon on ${s.short.layout1.others}; ${s.short.nWorkers}-worker gateways on ${s.short.layoutN.gateway}${s.short.sharedCores === true ? ', sharing every core with the upstream and autocannon' : `, upstream and autocannon on ${s.short.layoutN.others}`}. \`bare-*\` is bench/bare-proxy.ts: THE CEILING (no auth, policy, routing, metering or audit), not a product path.`, '',
      table(s.short.measures), '', `- Weir RSS after the 1-worker runs: ${f0(s.short.weirRssMiB)} MiB`, '')
  }
  if (s.latency !== undefined) out.push(`## Latency at a fixed ${s.latency.rate} req/s (open loop, bench/lib/rate.ts)`, '', rateTable(s.latency.measures, 'total'), '')
  if (s.ttfb !== undefined) out.push(`## Time to first byte (20 events 10 ms apart, ${s.ttfb.rate} req/s open loop)`, '', rateTable(s.ttfb.measures, 'ttfb'), '')
  if (s.big !== undefined) {
    out.push(`## Short requests (${s.big.rate}/s) with and without concurrent 1 MiB uploads (${s.big.bigRate}/s)`, '', rateTable(s.big.measures, 'total'), '',
      rateTable((s.big.measures as RateMeasure[]).filter((x) => x.big !== undefined), 'total', true), '')
  }
  if (s.bigThroughput !== undefined) out.push('## 1 MiB request bodies, throughput (10 connections, autocannon)', '', table(s.bigThroughput.measures), '')
  if (s.slow !== undefined) out.push('## Long slow streams (20 events 50 ms apart, 200 connections, autocannon)', '', table(s.slow.measures), '')
  if (s.memory !== undefined) {
    const x = s.memory
    out.push(`## Memory: ${x.streams} concurrent slow streams on one worker`, '',
      `- Streams of ${x.streamS} s (autocannon, ${x.streams} connections); RSS of the Weir process (primary + worker + metering pool) sampled every 200 ms.`,
      `- RSS idle ${f0(x.idleRssMiB)} MiB, peak ${f0(x.peakRssMiB)} MiB; upstream streams open at the peak: ${f0(x.concurrent)}; ${f0(x.reqPerSec)} req/s, errors ${x.errors}, non-2xx ${x.non2xx}`,
      ...(x.baseline !== undefined ? [`- Baseline (--baseline, measured right after): RSS idle ${f0(x.baseline.idleRssMiB)} MiB, peak ${f0(x.baseline.peakRssMiB)} MiB; streams open at the peak: ${f0(x.baseline.concurrent)}; errors ${x.baseline.errors}, non-2xx ${x.baseline.non2xx}`] : []), '')
  }
  if (s.stalled !== undefined) {
    const x = s.stalled
    out.push(`## Stalled readers`, '',
      `- ${x.readers} clients each ask for a ${f0(x.streamMiB)} MiB stream and never read; the fake upstream honours backpressure and counts what it sent.`,
      `- Weir RSS before ${f0(x.baseRssMiB)} MiB, at the plateau ${f0(x.plateauRssMiB)} MiB: +${f2(x.growthMiB)} MiB, ${f2(x.perStreamMiB)} MiB per stalled stream (everything the worker holds for it: socket buffers in userland, uWS's queue, undici's parser, the request body and bookkeeping).`,
      `- The upstream sent ${f2(x.upstreamPerStreamMiB)} MiB per stream before it stopped (the rest of that sits in kernel socket buffers on both sides of the gateway, which RSS does not count); replies that had begun with 200: ${x.started}/${x.readers}; upstream streams still open 2 s after the clients closed: ${x.upstreamOpenAfterClose}.`, '')
  }
  return out.join('\n') + '\n'
}
