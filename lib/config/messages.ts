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
 */
import type { Failure } from 'superstruct'
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

/** What to say about one superstruct failure, and whether to point at the key rather than the value. */
export function describeFailure (f: Failure): { message: string, atKey: boolean } {
  if (f.type === 'never' && f.refinement === undefined) return { message: 'unknown key', atKey: true }
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
  })
}
