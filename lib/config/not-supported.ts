/**
 * Finds the keys of a parsed gateway.yaml that match `NOT_SUPPORTED_YET` (see schema.ts for the
 * pattern syntax). Works on the expanded document before validation, so only keys the operator
 * wrote count; defaults never do.
 *
 * Each refusal has a `path` (the key reported, with its line:column) and a `scope` (the subtree it
 * covers: the key itself, or for `key=value` and `key=*` the object holding the key). Schema failures inside a
 * refused scope are dropped by the loader: the operator has to remove that part anyway. A refusal
 * nested inside another refusal's scope is dropped too.
 */
import type { Path } from './locate.js'
import { isObj } from './schema/kit.js'

/** One refused key. */
export interface Refusal {
  readonly path: Path
  readonly scope: Path
  /** The pattern that matched (an entry of NOT_SUPPORTED_YET). */
  readonly entry: string
  readonly message: string
  /** Point at the key (true) or at its value (a refused `key=value`). */
  readonly atKey: boolean
}

interface Pattern { readonly entry: string, readonly segs: readonly string[], readonly value: string | undefined }

function compile (entry: string): Pattern {
  const eq = entry.indexOf('=')
  const keys = eq < 0 ? entry : entry.slice(0, eq)
  return { entry, segs: keys.split('.'), value: eq < 0 ? undefined : entry.slice(eq + 1) }
}

function children (node: unknown, seg: string): Array<[string | number, unknown]> {
  if (Array.isArray(node)) {
    if (seg === '*') return node.map((v, i) => [i, v])
    const i = Number(seg)
    return Number.isInteger(i) && i >= 0 && i < node.length ? [[i, node[i]]] : []
  }
  if (!isObj(node)) return []
  if (seg === '*') return Object.entries(node)
  return Object.hasOwn(node, seg) ? [[seg, node[seg]]] : []
}

function match (p: Pattern, node: unknown, depth: number, at: Path, out: Refusal[]): void {
  const seg = p.segs[depth] as string
  for (const [k, v] of children(node, seg)) {
    if (v === undefined) continue
    const path = [...at, k]
    if (depth < p.segs.length - 1) { match(p, v, depth + 1, path, out); continue }
    if (p.value === undefined) {
      out.push({ path, scope: path, entry: p.entry, message: 'not supported yet', atKey: true })
    } else if (p.value === '*') {
      out.push({ path, scope: at, entry: p.entry, message: 'not supported yet', atKey: true })
    } else if (v === p.value) {
      out.push({ path, scope: at, entry: p.entry, message: `not supported yet (${p.value})`, atKey: false })
    }
  }
}

/** True when `path` equals `scope` or lies below it. */
export const within = (path: Path, scope: Path): boolean =>
  scope.length <= path.length && scope.every((s, i) => String(s) === String(path[i]))

/** Every present key of `data` matching one of `entries`, outermost first. */
export function findRefusals (data: unknown, entries: readonly string[]): Refusal[] {
  const all: Refusal[] = []
  for (const e of entries) match(compile(e), data, 0, [], all)
  all.sort((a, b) => a.scope.length - b.scope.length)
  const kept: Refusal[] = []
  for (const r of all) {
    if (!kept.some(k => within(r.path, k.scope))) kept.push(r)
  }
  return kept
}
