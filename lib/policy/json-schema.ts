/**
 * A small JSON Schema (draft-07) validator, for the subset of keywords the vendored Claude Code
 * settings schema uses (see vendor/claude-code-settings/NOTE.md):
 *
 *   type, enum, const, $ref (local `#/...` pointers), anyOf, oneOf, allOf, not,
 *   properties, required, additionalProperties, propertyNames, minProperties, maxProperties,
 *   items, minItems, maxItems, uniqueItems, minLength, maxLength, pattern, format: uri,
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf.
 *
 * Annotation keywords (description, default, examples, title, $schema, $id, …) are ignored, as
 * is any keyword not listed. It runs at boot only, so it favours clear messages over speed: each
 * problem is a key path plus a sentence, and a value of the wrong type gets one message rather
 * than one per keyword.
 */

export type SchemaNode = boolean | { readonly [key: string]: unknown }

/** One validation failure: where (mapping keys and list indexes) and what. */
export interface SchemaIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

type Obj = Readonly<Record<string, unknown>>
type Path = ReadonlyArray<string | number>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** JSON type name of a value, with `integer` for whole numbers. */
function typeOf (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function hasType (v: unknown, t: string): boolean {
  const actual = typeOf(v)
  return actual === t || (t === 'number' && actual === 'integer')
}

/** Short description of a value for messages. */
function show (v: unknown): string {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** Structural equality of JSON values (object key order ignored). */
export function jsonEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every(k => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
  }
  return false
}

function firstSentence (s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined
  const line = s.split('\n')[0]?.trim() ?? ''
  const m = /^(.*?[.!?])(\s|$)/.exec(line)
  const out = (m?.[1] ?? line).replace(/[.!?]$/, '')
  return out === '' ? undefined : out
}

export class SchemaValidator {
  private readonly regexes = new Map<string, RegExp>()

  constructor (private readonly root: SchemaNode) {}

  /** Every problem with `value` against the root schema (or `schema`), paths relative to `path`. */
  validate (value: unknown, schema: SchemaNode = this.root, path: Path = []): SchemaIssue[] {
    const out: SchemaIssue[] = []
    this.check(value, schema, path, out)
    return out
  }

  /** Resolve a local JSON pointer such as `#/$defs/hookMatcher`. */
  private deref (ref: string): SchemaNode {
    if (!ref.startsWith('#')) throw new Error(`unsupported $ref ${ref}: only local references are supported`)
    let cur: unknown = this.root
    for (const raw of ref.slice(1).split('/').filter(s => s !== '')) {
      const seg = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
      cur = isObj(cur) ? cur[seg] : undefined
    }
    if (typeof cur !== 'boolean' && !isObj(cur)) throw new Error(`$ref ${ref} does not resolve to a schema`)
    return cur
  }

  private regex (pattern: string): RegExp {
    let re = this.regexes.get(pattern)
    if (re === undefined) {
      re = new RegExp(pattern, 'u')
      this.regexes.set(pattern, re)
    }
    return re
  }

  private check (v: unknown, schema: SchemaNode, path: Path, out: SchemaIssue[]): void {
    if (schema === true) return
    if (schema === false) { out.push({ path, message: 'is not allowed here' }); return }
    if (typeof schema.$ref === 'string') { this.check(v, this.deref(schema.$ref), path, out); return }

    const type = schema.type
    if (type !== undefined) {
      const types = Array.isArray(type) ? type as string[] : [type as string]
      if (!types.some(t => hasType(v, t))) {
        out.push({ path, message: `must be ${types.map(t => t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : `a ${t}`).join(' or ')} (got ${typeOf(v)} ${show(v)})` })
        return
      }
    }
    if (Array.isArray(schema.enum) && !schema.enum.some(e => jsonEqual(e, v))) {
      out.push({ path, message: `must be one of ${schema.enum.map(show).join(', ')} (got ${show(v)})` })
      return
    }
    if (Object.hasOwn(schema, 'const') && !jsonEqual(schema.const, v)) {
      out.push({ path, message: `must be ${show(schema.const)} (got ${show(v)})` })
      return
    }
    if (typeof v === 'string') this.checkString(v, schema, path, out)
    else if (typeof v === 'number') this.checkNumber(v, schema, path, out)
    else if (Array.isArray(v)) this.checkArray(v, schema, path, out)
    else if (isObj(v)) this.checkObject(v, schema, path, out)

    if (Array.isArray(schema.allOf)) for (const s of schema.allOf as SchemaNode[]) this.check(v, s, path, out)
    if (Array.isArray(schema.anyOf)) this.checkAlternatives(v, schema.anyOf as SchemaNode[], path, out, false)
    if (Array.isArray(schema.oneOf)) this.checkAlternatives(v, schema.oneOf as SchemaNode[], path, out, true)
    if (schema.not !== undefined && this.validate(v, schema.not as SchemaNode, path).length === 0) {
      out.push({ path, message: 'is not allowed here' })
    }
  }

  private checkString (v: string, s: Obj, path: Path, out: SchemaIssue[]): void {
    const len = [...v].length
    if (typeof s.minLength === 'number' && len < s.minLength) {
      out.push({ path, message: s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters long` })
    }
    if (typeof s.maxLength === 'number' && len > s.maxLength) out.push({ path, message: `must be at most ${s.maxLength} characters long` })
    if (typeof s.pattern === 'string' && !this.regex(s.pattern).test(v)) {
      const what = s.pattern.length > 60 ? firstSentence(s.description) : undefined
      out.push({ path, message: what !== undefined ? `${show(v)} is not a valid value (expected: ${what})` : `${show(v)} does not match the pattern ${s.pattern}` })
    }
    if (s.format === 'uri' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(v)) out.push({ path, message: `${show(v)} is not a URI (it needs a scheme such as https:)` })
  }

  private checkNumber (v: number, s: Obj, path: Path, out: SchemaIssue[]): void {
    if (typeof s.minimum === 'number' && v < s.minimum) out.push({ path, message: `must be at least ${s.minimum} (got ${v})` })
    if (typeof s.maximum === 'number' && v > s.maximum) out.push({ path, message: `must be at most ${s.maximum} (got ${v})` })
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) out.push({ path, message: `must be greater than ${s.exclusiveMinimum} (got ${v})` })
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) out.push({ path, message: `must be less than ${s.exclusiveMaximum} (got ${v})` })
    if (typeof s.multipleOf === 'number' && s.multipleOf > 0 && !Number.isInteger(v / s.multipleOf)) {
      out.push({ path, message: `must be a multiple of ${s.multipleOf} (got ${v})` })
    }
  }

  private checkArray (v: readonly unknown[], s: Obj, path: Path, out: SchemaIssue[]): void {
    if (typeof s.minItems === 'number' && v.length < s.minItems) {
      out.push({ path, message: `must list at least ${s.minItems} ${s.minItems === 1 ? 'entry' : 'entries'}` })
    }
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) out.push({ path, message: `must list at most ${s.maxItems} entries (got ${v.length})` })
    if (s.uniqueItems === true) {
      const dup = v.findIndex((x, i) => v.slice(0, i).some(y => jsonEqual(x, y)))
      if (dup >= 0) out.push({ path: [...path, dup], message: `repeats ${show(v[dup])}; entries must be unique` })
    }
    if (Array.isArray(s.items)) {
      (s.items as SchemaNode[]).forEach((item, i) => { if (i < v.length) this.check(v[i], item, [...path, i], out) })
    } else if (s.items !== undefined) {
      v.forEach((x, i) => { this.check(x, s.items as SchemaNode, [...path, i], out) })
    }
  }

  private checkObject (v: Obj, s: Obj, path: Path, out: SchemaIssue[]): void {
    const props = isObj(s.properties) ? s.properties as Readonly<Record<string, SchemaNode>> : {}
    const keys = Object.keys(v)
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) out.push({ path, message: `must have at least ${s.minProperties} keys` })
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) out.push({ path, message: `must have at most ${s.maxProperties} keys` })
    if (Array.isArray(s.required)) {
      for (const k of s.required as string[]) if (!Object.hasOwn(v, k)) out.push({ path: [...path, k], message: 'is required' })
    }
    for (const k of keys) {
      if (s.propertyNames !== undefined) {
        for (const issue of this.validate(k, s.propertyNames as SchemaNode)) {
          out.push({ path: [...path, k], message: `is not an allowed key: ${issue.message}` })
        }
      }
      const sub = Object.hasOwn(props, k) ? props[k] : undefined
      if (sub !== undefined) { this.check(v[k], sub, [...path, k], out); continue }
      const extra = s.additionalProperties
      if (extra === false) {
        const known = Object.keys(props)
        out.push({ path: [...path, k], message: `is not a known key here${known.length > 0 && known.length <= 12 ? ` (known keys: ${known.join(', ')})` : ''}` })
      } else if (extra !== undefined && extra !== true) {
        this.check(v[k], extra as SchemaNode, [...path, k], out)
      }
    }
  }

  /**
   * anyOf / oneOf. When no alternative fits, the message is as specific as the value allows: if
   * exactly one alternative has the value's type and agrees with it on every `const` property
   * (for example the `type: command` form of a hook), that alternative's problems are reported;
   * otherwise one line says that none of the forms fit.
   */
  private checkAlternatives (v: unknown, alts: readonly SchemaNode[], path: Path, out: SchemaIssue[], exactlyOne: boolean): void {
    const results = alts.map(a => this.validate(v, a, path))
    const passing = results.filter(r => r.length === 0).length
    if (passing === 1 || (passing > 1 && !exactlyOne)) return
    if (passing > 1) { out.push({ path, message: `matches more than one of the ${alts.length} allowed forms` }); return }
    const plausible = alts.map((a, i) => ({ a: this.resolve(a), i })).filter(({ a }) => this.plausible(v, a))
    if (plausible.length === 1) { out.push(...(results[plausible[0]!.i] ?? [])); return }
    out.push({ path, message: `${show(v)} does not fit any of the ${alts.length} allowed forms` })
  }

  private resolve (a: SchemaNode): SchemaNode {
    return typeof a === 'object' && typeof a.$ref === 'string' ? this.resolve(this.deref(a.$ref)) : a
  }

  /** Same type as the value, and no `const`-valued property that disagrees with it. */
  private plausible (v: unknown, a: SchemaNode): boolean {
    if (typeof a === 'boolean') return a
    if (a.type !== undefined && !(Array.isArray(a.type) ? a.type as string[] : [a.type as string]).some(t => hasType(v, t))) return false
    if (!isObj(v) || !isObj(a.properties)) return true
    return Object.entries(a.properties).every(([k, p]) =>
      !isObj(p) || !Object.hasOwn(p, 'const') || (Object.hasOwn(v, k) && jsonEqual(p.const, v[k])))
  }
}
