/**
 * Secret expansion in gateway.yaml, applied to the parsed document's scalar values (never to the
 * raw text, and never to keys):
 *
 * - `${file:/abs/path}` when it is the WHOLE string value: the file's contents, trimmed. The path
 *   must be absolute (and cannot contain `}`). Inside a longer string it is left as written
 *   (`file:` is not a variable name).
 * - `${NAME}` anywhere in a string, any number of times, `NAME` being letters, digits and `_`:
 *   the environment variable's value; an unset variable is an error (an empty one is fine).
 * - Anything else stays verbatim; there is no escape syntax and no `${NAME:-default}` form.
 *
 * Because the substitution happens on scalar nodes after parsing, a value can never inject YAML
 * structure: `a: b\n- c` arriving from a variable stays one string. Results are always strings;
 * the schema coerces numeric strings where it expects a number (booleans are not coerced).
 * Problems carry the scalar's line:column and key path, and never the value.
 */
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { type Document, type LineCounter, visit } from 'yaml'
import { type Problem, pathFromAncestors } from './locate.js'

const WHOLE_FILE = /^\$\{file:([^}]+)\}$/
const VARIABLE = /\$\{(\w+)\}/g

/** Result of expanding one string: the new value, or the reasons it could not be expanded. */
export type Expansion = { readonly ok: true, readonly value: string } | { readonly ok: false, readonly errors: readonly string[] }

function describeReadError (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  return code ?? 'read failed'
}

/** Expand one string value (see the module comment for the rules). */
export function expandString (value: string, env: NodeJS.ProcessEnv, readFile: (p: string) => string = p => readFileSync(p, 'utf8')): Expansion {
  const file = WHOLE_FILE.exec(value)
  if (file !== null) {
    const p = file[1] as string
    if (!isAbsolute(p)) return { ok: false, errors: [`\${file:} path must be absolute: ${p}`] }
    try { return { ok: true, value: readFile(p).trim() } } catch (err) {
      return { ok: false, errors: [`cannot read \${file:${p}}: ${describeReadError(err)}`] }
    }
  }
  const missing: string[] = []
  const out = value.replace(VARIABLE, (whole, name: string) => {
    const v = env[name]
    if (v === undefined) { missing.push(name); return whole }
    return v
  })
  if (missing.length > 0) return { ok: false, errors: [...new Set(missing)].map(n => `undefined environment variable ${n}`) }
  return { ok: true, value: out }
}

/**
 * Expand every string scalar value of `doc` in place. Returns one problem per failure (empty when
 * everything expanded).
 */
export function interpolateDocument (doc: Document, lc: LineCounter, env: NodeJS.ProcessEnv): Problem[] {
  const problems: Problem[] = []
  visit(doc, {
    Scalar (key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return
      const r = expandString(node.value, env)
      if (r.ok) { node.value = r.value; return }
      const { line, col } = node.range === undefined || node.range === null ? { line: 1, col: 1 } : lc.linePos(node.range[0])
      const path = pathFromAncestors(ancestors, node)
      for (const message of r.errors) problems.push({ path, line, col, message })
    },
  })
  return problems
}
