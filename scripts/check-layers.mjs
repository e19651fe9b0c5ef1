#!/usr/bin/env node
/**
 * The folder rules, checked: `node scripts/check-layers.mjs [ROOT]` (also `npm run check:layers`,
 * and the lint stage of .ci/run). Reads the TypeScript sources under ROOT (default: this
 * repository) — bin/, lib/, workers/ — and fails (exit 1, one line per finding) on:
 *
 *   - an import from lib/http/ (the HTTP framework) into anything but the framework itself and the
 *     few base modules it stands on (FRAMEWORK_BASE below): features register their routes with
 *     the framework, never the other way;
 *   - an import of workers/ from anything under lib/: only workers/ (and the entry point in bin/)
 *     wires the features together;
 *   - an import circle, type-only imports included (a reader follows imports one way).
 *   - an import against a one-way folder pair (ONE_WAY below: lib/metering/ never imports lib/spend/).
 *
 * Imports are read from the source text: static `import ... from '...'`, `export ... from '...'`,
 * side-effect `import '...'` and `import('...')` with a literal specifier. Only relative
 * specifiers count (packages and node: modules are outside the rules). Exit 0 prints one summary
 * line. Standalone on purpose (no build, no dependencies), so it runs before or without `tsc`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Folder pairs whose imports go one way only: [lower, upper] — nothing under `lower` imports
 * `upper`. Money: metering (pricing, periods, the ledger and what a write charges) sits below
 * spend control (caps, leases, alerts), so a reader follows money one way.
 */
const ONE_WAY = [['lib/metering/', 'lib/spend/']]

/** Folders whose sources are checked. */
const SOURCE_DIRS = ['bin', 'lib', 'workers']

/** What lib/http/ may import outside itself: the error registry, the logger, the version, the network helpers (client IP). */
const FRAMEWORK_BASE = ['lib/errors.ts', 'lib/log.ts', 'lib/version.ts', 'lib/net/']

const IMPORT_RE = /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/g

/** Every .ts file under ROOT's source folders, as forward-slash paths relative to ROOT (check-repeats.mjs reads the same set). */
export function sources (root) {
  const out = []
  const walk = (dir) => {
    let entries
    try { entries = readdirSync(dir, { withFileTypes: true }) } catch { return }
    for (const e of entries) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(root, p).split(sep).join('/'))
    }
  }
  for (const d of SOURCE_DIRS) walk(join(root, d))
  return out.sort()
}

/** Strip comments, so an import named in a comment is not read as one. */
function code (text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
}

/** The relative imports of `file`, resolved to files of the tree (`.js` specifiers name `.ts` sources). */
function importsOf (root, file, known) {
  const text = code(readFileSync(join(root, file), 'utf8'))
  const found = new Set()
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2]
    if (spec === undefined || !spec.startsWith('.')) continue
    const abs = relative(root, resolve(root, dirname(file), spec)).split(sep).join('/')
    const candidates = [abs.replace(/\.js$/, '.ts'), abs + '.ts', abs + '/index.ts', abs]
    const hit = candidates.find((c) => known.has(c))
    if (hit !== undefined) found.add(hit)
  }
  return [...found].sort()
}

/** Strongly connected components with more than one file (or a file importing itself): Tarjan's algorithm. */
function circles (graph) {
  let index = 0
  const idx = new Map(); const low = new Map(); const onStack = new Set(); const stack = []; const out = []
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const comp = []
      let w
      do { w = stack.pop(); onStack.delete(w); comp.push(w) } while (w !== v)
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  return out
}

/** Every finding for the tree at `root`, as lines; empty when the rules hold. */
export function checkLayers (root) {
  const files = sources(root)
  const known = new Set(files)
  const graph = new Map(files.map((f) => [f, importsOf(root, f, known)]))
  const problems = []
  for (const [from, deps] of graph) {
    for (const to of deps) {
      if (from.startsWith('lib/http/') && !to.startsWith('lib/http/') && !FRAMEWORK_BASE.some((b) => b.endsWith('/') ? to.startsWith(b) : to === b)) {
        problems.push(`framework imports a feature: ${from} → ${to} (lib/http/ is the framework; the feature registers its routes instead)`)
      }
      for (const [lower, upper] of ONE_WAY) {
        if (from.startsWith(lower) && to.startsWith(upper)) problems.push(`one-way folders imported backwards: ${from} → ${to} (${upper} stands above ${lower})`)
      }
      if (from.startsWith('lib/') && to.startsWith('workers/')) {
        problems.push(`lib imports workers: ${from} → ${to} (only workers/ wires features together)`)
      }
    }
  }
  for (const c of circles(graph)) problems.push(`import circle: ${c.join(' ↔ ')}`)
  return { files: files.length, imports: [...graph.values()].reduce((n, d) => n + d.length, 0), problems }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    process.stderr.write(`check-layers: ${root} is not a folder\n`)
    process.exit(2)
  }
  const { files, imports, problems } = checkLayers(root)
  for (const p of problems) process.stdout.write(`FAIL ${p}\n`)
  if (problems.length > 0) {
    process.stdout.write(`layers: ${problems.length} finding(s) in ${files} files\n`)
    process.exit(1)
  }
  process.stdout.write(`layers: ${files} files, ${imports} imports, framework below features, lib/ never imports workers/, no circles, metering below spend\n`)
}
