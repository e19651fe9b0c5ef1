/**
 * The small JSONPath subset (RFC 9535 syntax) that `oidc.groups_jsonpath` takes, for IdPs that
 * send groups as a list of objects (Entra, Okta) rather than a list of names.
 *
 * Grammar: `$` followed by one or more segments, the first of which names a member:
 *   .name                   a member; name is [A-Za-z_][A-Za-z0-9_]*
 *   ['any other name']      a member; no quote, backslash or control character inside, not empty
 *   [*]                     every value of an object or array
 *   [?@.field=='value']     the values of an object or array whose own `field` member is the
 *                           string `value` (no quote, backslash or control character; may be
 *                           empty); one optional space either side of `==`
 * Nothing else is accepted: no recursive descent, indices, slices, other operators or functions.
 *
 * Evaluation: a member segment takes the member of each current node that is a plain object and
 * owns it (arrays and primitives have no members here); `[*]` and filters fan out. The result is
 * the single value when no segment fanned out, otherwise the list of everything selected (a
 * selected list counting as its items); absent members are dropped. A member missing before the
 * first fan-out selects nothing at all (undefined: the claim is absent), after it an empty list. `groupsFrom` (claims.ts) then keeps the non-empty strings, so a path must
 * end at the names (`$.groups[?@.type=='security'].displayName`), not at the objects.
 *
 * Hostile input is bounded: a path is at most MAX_PATH_CHARS characters and MAX_SEGMENTS
 * segments (checked at boot), and one evaluation visits at most MAX_NODES nodes; past that it
 * stops and returns what it has (never throws, never loops: claims are a JSON tree).
 */

export const MAX_PATH_CHARS = 512
export const MAX_SEGMENTS = 32
export const MAX_NODES = 10_000

export type Segment =
  | { readonly kind: 'member', readonly name: string }
  | { readonly kind: 'all' }
  | { readonly kind: 'filter', readonly field: string, readonly value: string }

/** A parsed path, or why it is not one (with the 0-based offset of the problem). */
export type ParseResult =
  | { readonly ok: true, readonly segments: readonly Segment[] }
  | { readonly ok: false, readonly at: number, readonly reason: string }

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
const QUOTED = /'([^'\\\x00-\x1f]+)'\]/y
const FILTER = /\?@\.([A-Za-z_][A-Za-z0-9_]*) ?== ?'([^'\\\x00-\x1f]*)'\]/y

const fail = (at: number, reason: string): ParseResult => ({ ok: false, at, reason })

/** Parse `path`; never throws. */
export function parseGroupsPath (path: string): ParseResult {
  if (path.length > MAX_PATH_CHARS) return fail(MAX_PATH_CHARS, `is longer than ${MAX_PATH_CHARS} characters`)
  if (!path.startsWith('$')) return fail(0, 'must start with $')
  const segments: Segment[] = []
  let i = 1
  while (i < path.length) {
    if (segments.length >= MAX_SEGMENTS) return fail(i, `has more than ${MAX_SEGMENTS} segments`)
    const c = path[i]
    if (c === '.') {
      NAME.lastIndex = i + 1
      const m = NAME.exec(path)
      if (m === null) return fail(i + 1, 'expects a name (letters, digits and _, not starting with a digit) after .')
      segments.push({ kind: 'member', name: m[0] })
      i = NAME.lastIndex
    } else if (c === '[') {
      const rest = path[i + 1]
      if (rest === "'") {
        QUOTED.lastIndex = i + 1
        const m = QUOTED.exec(path)
        if (m === null) return fail(i, "expects ['name'] with a non-empty name holding no quote, backslash or control character")
        segments.push({ kind: 'member', name: m[1] as string })
        i = QUOTED.lastIndex
      } else if (path.startsWith('[*]', i)) {
        segments.push({ kind: 'all' })
        i += 3
      } else if (rest === '?') {
        FILTER.lastIndex = i + 1
        const m = FILTER.exec(path)
        if (m === null) return fail(i, "expects a filter of the form [?@.field=='value']")
        segments.push({ kind: 'filter', field: m[1] as string, value: m[2] as string })
        i = FILTER.lastIndex
      } else {
        return fail(i, "expects ['name'], [*] or [?@.field=='value'] after [")
      }
    } else {
      return fail(i, `has an unexpected character ${JSON.stringify(c)}`)
    }
    if (segments.length === 1 && segments[0]?.kind !== 'member') return fail(1, "must start with .name or ['name'] after $")
  }
  if (segments.length === 0) return fail(1, "must name a claim after $ (.name or ['name'])")
  return { ok: true, segments }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const member = (v: unknown, name: string): unknown => isPlainObject(v) && Object.hasOwn(v, name) ? v[name] : undefined

const values = (v: unknown): unknown[] => Array.isArray(v) ? v : isPlainObject(v) ? Object.values(v) : []

/**
 * Evaluate parsed `segments` against `doc`: the selected value, a list when a segment fanned out,
 * or undefined when nothing was selected.
 */
export function evaluateGroupsPath (doc: unknown, segments: readonly Segment[]): unknown {
  let nodes: unknown[] = [doc]
  let fanned = false
  let budget = MAX_NODES
  for (const seg of segments) {
    // a member missing before the first fan-out means the claim is absent (undefined), not empty
    if (!fanned && nodes.length === 0) return undefined
    const next: unknown[] = []
    for (const n of nodes) {
      if (budget <= 0) break
      if (seg.kind === 'member') {
        budget--
        const v = member(n, seg.name)
        if (v !== undefined) next.push(v)
        continue
      }
      for (const v of values(n)) {
        if (--budget < 0) break
        if (seg.kind === 'filter' && member(v, seg.field) !== seg.value) continue
        next.push(v)
      }
    }
    if (seg.kind !== 'member') fanned = true
    nodes = next
  }
  if (!fanned) return nodes[0]
  // after a fan-out, a selected list counts as its items (one level), so `$.roles[*].names` over
  // lists of names yields the names
  return nodes.flatMap(n => Array.isArray(n) ? n : [n])
}
