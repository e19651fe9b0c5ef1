/**
 * From key paths to places in the YAML source, and the one line format every config problem uses:
 *
 *     gateway.yaml:12:5 session.jwt_secret.0: Expected a string of at least 32 characters
 *
 * A path that runs past what the file contains (a missing key, or a position a coercion created,
 * such as `jwt_secret.0` for a single string) points at the deepest node that does exist, which
 * for a missing key is its parent mapping.
 */
import { type Document, type LineCounter, type Node, type Pair, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml'

/** A key path: mapping keys and list indexes. */
export type Path = ReadonlyArray<string | number>

/** One problem (or warning) found in the file. Line and column are 1-based. */
export interface Problem {
  readonly path: Path
  readonly line: number
  readonly col: number
  readonly message: string
}

/** Text of a mapping key as toJS would spell it. */
export function keyText (key: unknown): string {
  if (isScalar(key)) return String(key.value)
  return key === null || key === undefined ? '' : String(key)
}

/** The node at `path`, or the deepest node on the way when the path does not fully exist. */
export function findNode (doc: Document, path: Path): { node: Node | null, pair: Pair | null, complete: boolean } {
  let cur: unknown = doc.contents
  let pair: Pair | null = null
  let depth = 0
  for (const seg of path) {
    if (isAlias(cur)) cur = cur.resolve(doc)
    if (isMap(cur)) {
      const hit = cur.items.find(p => keyText(p.key) === String(seg))
      if (hit === undefined) break
      pair = hit
      cur = hit.value
    } else if (isSeq(cur)) {
      const item = cur.items[typeof seg === 'number' ? seg : Number(seg)]
      if (item === undefined) break
      pair = null
      cur = item
    } else break
    depth++
  }
  return { node: (cur ?? null) as Node | null, pair, complete: depth === path.length }
}

const start = (n: unknown): number | undefined =>
  typeof n === 'object' && n !== null && 'range' in n && Array.isArray(n.range) ? n.range[0] as number : undefined

/** 1-based line and column for `path`; `atKey` points at the key rather than its value. */
export function positionOf (doc: Document, lc: LineCounter, path: Path, atKey = false): { line: number, col: number } {
  const { node, pair, complete } = findNode(doc, path)
  const offset = (complete && atKey && pair !== null ? start(pair.key) : undefined) ?? start(node) ?? start(pair?.key)
  return offset === undefined ? { line: 1, col: 1 } : lc.linePos(offset)
}

const end = (n: unknown): number | undefined =>
  typeof n === 'object' && n !== null && 'range' in n && Array.isArray(n.range) ? n.range[2] as number : undefined

/** Key path of the innermost node whose source holds `offset` (for YAML parser errors). */
export function pathAtOffset (doc: Document, offset: number): Path {
  const out: Array<string | number> = []
  const holds = (a: number | undefined, b: number | undefined): boolean => a !== undefined && b !== undefined && offset >= a && offset < b
  let cur: unknown = doc.contents
  for (;;) {
    if (isMap(cur)) {
      const hit = cur.items.find(p => holds(start(p.key) ?? start(p.value), end(p.value) ?? end(p.key)))
      if (hit === undefined) break
      out.push(keyText(hit.key))
      if (!holds(start(hit.value), end(hit.value))) break
      cur = hit.value
    } else if (isSeq(cur)) {
      const i = cur.items.findIndex(n => holds(start(n), end(n)))
      if (i < 0) break
      out.push(i)
      cur = cur.items[i]
    } else break
  }
  return out
}

/** Key path of a node visited with yaml's `visit`, from its ancestors. */
export function pathFromAncestors (ancestors: readonly unknown[], node: unknown): Path {
  const out: Array<string | number> = []
  ancestors.forEach((a, i) => {
    if (isPair(a)) out.push(keyText(a.key))
    else if (isSeq(a)) out.push(a.items.indexOf((ancestors[i + 1] ?? node) as never))
  })
  return out
}

/** Dotted rendering of a path (`upstreams.0.auth.api_key`). */
export const dotted = (path: Path): string => path.map(String).join('.')

/** The one-line rendering: `<file>:<line>:<col> <path>: <message>` (no path part at the top level). */
export function formatProblem (file: string, p: Problem): string {
  const where = p.path.length === 0 ? '' : `${dotted(p.path)}: `
  return `${file}:${p.line}:${p.col} ${where}${p.message}`
}
