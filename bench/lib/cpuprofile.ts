/**
 * Summarise V8 `.cpuprofile` files (from `node --cpu-prof`): self time by function and by file.
 *
 *   node dist/bench/lib/cpuprofile.js PROFILE.cpuprofile [--top 40]
 *
 * Self time of a node is the sum of the sampling intervals (`timeDeltas`) of the samples that
 * landed in it. Files are shortened to what says where the time went: `lib/proxy/messages.ts`
 * (via the source path of the compiled file), `undici/…`, `node:internal/…`, and V8's own
 * pseudo-frames: `(program)` (native code outside JavaScript — uWS, syscalls), `(garbage
 * collector)` and `(idle)` (the event loop waiting; excluded from the percentages).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface Row { name: string, ms: number, pct: number }
/** `inclusive`: time of the samples with the function anywhere on their stack (what it costs with everything it calls). */
export interface Summary { busyMs: number, idleMs: number, byFunction: Row[], byFile: Row[], inclusive: Row[] }

export function shortFile (url: string): string {
  if (url === '') return ''
  const u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = u.slice(nm + 14).split('/')
    const pkg = rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1]}` : rest[0] as string
    return `${pkg}/${rest.slice(pkg.split('/').length).join('/')}`
  }
  const dist = u.lastIndexOf('/dist/')
  if (dist >= 0) return u.slice(dist + 6).replace(/\.js$/, '.ts')
  return u
}

export function summarise (p: Profile): Summary {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of p.nodes) { byId.set(n.id, n); for (const c of n.children ?? []) parent.set(c, n.id) }
  const nameOf = (cf: CallFrame): string => cf.url === '' ? (cf.functionName || '(anonymous)') : `${cf.functionName || '(anonymous)'} ${shortFile(cf.url)}:${cf.lineNumber + 1}`
  const incl = new Map<string, number>()
  const fn = new Map<string, number>()
  const file = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i] as number)
    const dt = (p.timeDeltas[i] ?? 0) / 1000
    if (n === undefined) continue
    const cf = n.callFrame
    if (cf.functionName === '(idle)') { idle += dt; continue }
    busy += dt
    const f = shortFile(cf.url)
    const fname = nameOf(cf)
    fn.set(fname, (fn.get(fname) ?? 0) + dt)
    const onStack = new Set<string>()
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const x = byId.get(id)
      if (x !== undefined && x.callFrame.url !== '') onStack.add(nameOf(x.callFrame))
    }
    for (const k of onStack) incl.set(k, (incl.get(k) ?? 0) + dt)
    const group = cf.url === '' ? (cf.functionName.startsWith('(') ? cf.functionName : '(native)') : f.startsWith('node:') ? f.split('/').slice(0, 2).join('/') : f
    file.set(group, (file.get(group) ?? 0) + dt)
  }
  const rows = (m: Map<string, number>): Row[] => [...m].map(([name, ms]) => ({ name, ms, pct: 100 * ms / busy })).sort((a, b) => b.ms - a.ms)
  return { busyMs: busy, idleMs: idle, byFunction: rows(fn), byFile: rows(file), inclusive: rows(incl) }
}

export function summariseFile (path: string): Summary {
  return summarise(JSON.parse(readFileSync(path, 'utf8')) as Profile)
}

export function renderSummary (s: Summary, top = 30): string {
  const t = (rows: Row[]): string[] => rows.slice(0, top).map((r) => `| ${r.pct.toFixed(1)}% | ${r.ms.toFixed(0)} | \`${r.name}\` |`)
  return [`Busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms.`, '',
    '**Self time by file**', '', '| % busy | ms | file |', '|---:|---:|---|', ...t(s.byFile), '',
    '**Self time by function**', '', '| % busy | ms | function |', '|---:|---:|---|', ...t(s.byFunction), '',
    '**Inclusive time by function** (with everything it calls)', '', '| % busy | ms | function |', '|---:|---:|---|', ...t(s.inclusive), ''].join('\n')
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } })
  for (const f of positionals) process.stdout.write(`## ${f}\n\n${renderSummary(summariseFile(f), Number(values.top ?? 30))}\n`)
}
