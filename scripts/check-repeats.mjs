#!/usr/bin/env node
/**
 * No block written twice: `node scripts/check-repeats.mjs [ROOT] [--min N]` (also
 * `npm run check:repeats`, and the lint stage of .ci/run). Reads the TypeScript sources under ROOT
 * (default: this repository) — bin/, lib/, workers/, the same files check-layers.mjs reads — and fails (exit 1, one line per finding) when
 * a run of N or more significant lines (default MIN_LINES) appears in two places, in one file or
 * in two. Such a run is logic that should live once and be called from both places.
 *
 * What counts as a significant line (the rest is boilerplate that may repeat freely):
 *   - the text of a line with comments removed and whitespace collapsed;
 *   - not blank, not an import or re-export line, and not punctuation alone (`}`, `})`, `],` …).
 * Lines are compared exactly after that, so two blocks of the same shape with other names are not
 * reported (`duplicates` from the tool library finds those, for a human to judge). A finding names
 * the longest shared run once per pair of places, with 1-based line numbers of the source.
 *
 * Standalone on purpose (no build, no dependencies); it shares check-layers.mjs's file walk.
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sources } from './check-layers.mjs'

/** The shortest run reported, in significant lines. */
export const MIN_LINES = 6

/**
 * The source with comments blanked out, line breaks kept (so line numbers stay true). String and
 * template literals are copied as they are, so a `//` inside a URL is not taken for a comment.
 */
function blankComments (text) {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]
    const next = text[i + 1]
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += text.slice(i, stop).replace(/[^\n]/g, ' ')
      i = stop
    } else if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\') j++
        else if (c !== '`' && text[j] === '\n') break
        j++
      }
      out += text.slice(i, j + 1)
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

const PUNCTUATION_ONLY = /^[\s{}()[\];,.]*$/
const IMPORT_LINE = /^(?:import|export)\b.*\bfrom\s*['"]|^import\s*['"]/

/** A file's significant lines: [normalised text, 1-based line number]. */
function significant (text) {
  const lines = blankComments(text).split('\n')
  const out = []
  for (let n = 0; n < lines.length; n++) {
    const s = lines[n].trim().replace(/\s+/g, ' ')
    if (s === '' || PUNCTUATION_ONLY.test(s) || IMPORT_LINE.test(s)) continue
    out.push([s, n + 1])
  }
  return out
}

/**
 * Every run of at least `min` significant lines found in two places of `files` (path → text):
 * `{ a: [path, firstLine, lastLine], b: [...], lines }`, the longest run once per pair of places.
 */
export function findRepeats (files, min = MIN_LINES) {
  const sig = new Map([...files].map(([p, text]) => [p, significant(text)]))
  // Index every window of `min` lines by its text; a window seen twice starts a shared run.
  const seen = new Map()
  const starts = []
  for (const [p, lines] of sig) {
    for (let i = 0; i + min <= lines.length; i++) {
      const key = lines.slice(i, i + min).map((l) => l[0]).join('\n')
      const where = seen.get(key)
      if (where === undefined) seen.set(key, [[p, i]])
      else {
        for (const [q, j] of where) if (q !== p || i >= j + min) starts.push([q, j, p, i])
        where.push([p, i])
      }
    }
  }
  // Grow each shared window into its longest run, and keep a run once (not once per window in it).
  const found = new Map()
  for (const [q, j, p, i] of starts) {
    const A = sig.get(q); const B = sig.get(p)
    let s = 0
    while (j - s - 1 >= 0 && i - s - 1 >= 0 && A[j - s - 1][0] === B[i - s - 1][0] && (q !== p || i - s - 1 >= j + min)) s++
    let e = min
    while (j + e < A.length && i + e < B.length && A[j + e][0] === B[i + e][0] && (q !== p || j + e < i - s)) e++
    const a0 = j - s; const b0 = i - s; const len = e + s
    const id = `${q}:${a0}|${p}:${b0}`
    if (!found.has(id)) found.set(id, { a: [q, A[a0][1], A[a0 + len - 1][1]], b: [p, B[b0][1], B[b0 + len - 1][1]], lines: len })
  }
  return [...found.values()].sort((x, y) => y.lines - x.lines || x.a[0].localeCompare(y.a[0]) || x.a[1] - y.a[1])
}

/** Every finding for the tree at `root`. */
export function checkRepeats (root, min = MIN_LINES) {
  const paths = sources(root)
  const files = new Map(paths.map((p) => [p, readFileSync(join(root, p), 'utf8')]))
  return { files: paths.length, repeats: findRepeats(files, min) }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  let min = MIN_LINES
  const at = args.indexOf('--min')
  if (at !== -1) {
    min = Number(args[at + 1])
    args.splice(at, 2)
    if (!Number.isInteger(min) || min < 2 || min > 999) {
      process.stderr.write('check-repeats: --min takes a whole number from 2 to 999\n')
      process.exit(2)
    }
  }
  const root = resolve(args[0] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    process.stderr.write(`check-repeats: ${root} is not a folder\n`)
    process.exit(2)
  }
  const { files, repeats } = checkRepeats(root, min)
  const at1 = ([p, from, to]) => `${p}:${from}-${to}`
  for (const r of repeats) process.stdout.write(`FAIL repeated block (${r.lines} lines): ${at1(r.a)} = ${at1(r.b)}\n`)
  if (repeats.length > 0) {
    process.stdout.write(`repeats: ${repeats.length} block(s) written twice in ${files} files; write the logic once and call it from both places\n`)
    process.exit(1)
  }
  process.stdout.write(`repeats: ${files} files, no run of ${min}+ significant lines written twice\n`)
}
