/**
 * Wording of schema failures for operators.
 *
 * - A key the schema does not know (superstruct reports it as type `never`) reads "unknown key".
 * - A required key that is absent reads "missing required key" (its position is the parent's).
 * - superstruct's own "Expected an object/array" messages are reworded in YAML terms (mapping,
 *   list) with the same rendering of the received value as the rest of the schema.
 * - When a key on the path looks secret, the "but received: …" part of a message is replaced, so
 *   a secret value never reaches a log. A key looks secret when one of its words (split on `_`,
 *   `-` and `.`) is secret, password, key(s), token, credential(s), pem, assertion, authorization or
 *   cookie, unless its last word says it only names something (method, file, path, url, claim);
 *   everything under `auth` and `headers` counts as secret too. Messages written in `schema/`
 *   never quote values otherwise, except names (upstream, header and group names).
 * - An unknown key that is a small typo of a key allowed in the same mapping gets a suggestion
 *   ("did you mean `listen.port`?"): edit distance with transpositions, at most 2 and less than half
 *   the key's length, so unrelated words are never "corrected".
 * - A key that takes one value or a list (`session.jwt_secret`) and was given one value is reported
 *   by its own name, not with the `.0` index the value gains when it is coerced to a list.
 */
import type { Failure, Struct } from 'superstruct'
import { ConfigSchema } from './schema.js'
import { isObj, received } from './schema/kit.js'

const SECRET_WORDS = new Set(['secret', 'password', 'passphrase', 'key', 'keys', 'apikey', 'token', 'credential', 'credentials',
  'pem', 'assertion', 'authorization', 'cookie'])
const NAMING_WORDS = new Set(['method', 'file', 'path', 'url', 'claim'])
const SECRET_CONTAINERS = new Set(['auth', 'headers'])
const RECEIVED = /, but received: .*$/s

function secretKey (seg: string): boolean {
  const words = seg.toLowerCase().split(/[_.-]+/)
  return SECRET_CONTAINERS.has(seg) || (words.some(w => SECRET_WORDS.has(w)) && !NAMING_WORDS.has(words[words.length - 1] as string))
}

/** True when any key in `path` looks like it holds a secret. */
export const secretPath = (path: ReadonlyArray<string | number>): boolean =>
  path.some(seg => typeof seg === 'string' && secretKey(seg))

/** Remove a quoted value from `message` when `path` looks secret. */
export function redact (path: ReadonlyArray<string | number>, message: string): string {
  return secretPath(path) ? message.replace(RECEIVED, ', but received a value that is not shown (secret)') : message
}

const isContainerFailure = (f: Failure): boolean =>
  f.refinement === undefined && (f.type === 'object' || f.type === 'record' || f.type === 'array')

/** Is this failure about a required key that is not in its parent mapping? */
function isMissing (f: Failure): boolean {
  if (f.refinement !== undefined || f.value !== undefined || f.path.length === 0) return false
  const parent: unknown = f.branch[f.branch.length - 2]
  return isObj(parent) && !Object.hasOwn(parent, f.path[f.path.length - 1] as string)
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[]
      const up = d[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(up[j] as number + 1, row[j - 1] as number + 1, up[j - 1] as number + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, (d[i - 2] as number[])[j - 2] as number + 1)
    }
  }
  return (d[a.length] as number[])[b.length] as number
}

/** The candidate closest to `word` when it is plausibly a typo of it (ties: the first listed). */
export function nearest (word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase())
    if (dist < bestD) { best = c; bestD = dist }
  }
  return best !== undefined && bestD <= 2 && bestD * 2 < word.length ? best : undefined
}

/**
 * The keys the schema allows in the mapping holding the unknown key of failure `f`. Walks the
 * schema alongside the values superstruct saw (`f.branch`), so per-provider shapes resolve too.
 */
function siblingKeys (root: Struct<any, any>, f: Failure): string[] {
  let s: Struct<any, any> | undefined = root
  const ctx = { branch: f.branch, path: [] as unknown[] }
  for (let i = 0; i < f.path.length; i++) {
    const entries = s.entries(f.branch[i], ctx) as Iterable<[string | number, unknown, Struct<any, any>]>
    if (i === f.path.length - 1) {
      return [...entries].filter(([, , st]) => st.type !== 'never').map(([k]) => String(k))
    }
    s = [...entries].find(([k]) => k === f.path[i])?.[2]
    if (s === undefined) return []
  }
  return []
}

function unknownKeyMessage (f: Failure, root: Struct<any, any>): string {
  const key = f.path[f.path.length - 1]
  const near = typeof key === 'string' ? nearest(key, siblingKeys(root, f)) : undefined
  return near === undefined ? 'unknown key' : `unknown key; did you mean \`${[...f.path.slice(0, -1), near].join('.')}\`?`
}

/**
 * What to say about one superstruct failure, and whether to point at the key rather than the value.
 * `root` is the schema the failure came from (for typo suggestions; default gateway.yaml's).
 */
export function describeFailure (f: Failure, root: Struct<any, any> = ConfigSchema): { message: string, atKey: boolean } {
  if (f.type === 'never' && f.refinement === undefined) return { message: unknownKeyMessage(f, root), atKey: true }
  if (isMissing(f)) return { message: 'missing required key', atKey: false }
  if (isContainerFailure(f)) {
    return { message: redact(f.path, `Expected ${f.type === 'array' ? 'a list' : 'a mapping'}, but received: ${received(f.value)}`), atKey: false }
  }
  return { message: redact(f.path, f.message), atKey: false }
}

/**
 * Drop failures below a value that was not even the right kind of container (superstruct still
 * walks a list given where a mapping belongs, and calls its indexes unknown keys).
 */
export function pruneFailures (failures: readonly Failure[]): Failure[] {
  const bad = failures.filter(isContainerFailure).map(f => f.path.map(String).join('\u0000') + '\u0000')
  return failures.filter(f => {
    const p = f.path.map(String).join('\u0000') + '\u0000'
    return !bad.some(b => p.length > b.length && p.startsWith(b))
  }).map(singleValuePath)
}

/**
 * `session.jwt_secret.0` → `session.jwt_secret` when the file held one value, not a list: the
 * branch keeps each level's value as written (before coercion), so a list index whose parent is
 * not a list was made up by the coercion.
 */
function singleValuePath (f: Failure): Failure {
  const n = f.path.length
  if (n < 2 || f.path[n - 1] !== 0 || Array.isArray(f.branch[n - 1])) return f
  return { ...f, path: f.path.slice(0, -1), branch: f.branch.slice(0, -1) }
}
