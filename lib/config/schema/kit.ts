/**
 * Small building blocks for the gateway.yaml schema, on top of superstruct.
 *
 * Why not superstruct's own primitives everywhere: their messages echo the received value, say
 * "NaN" after a failed number coercion and call a missing key "undefined". These helpers keep the
 * messages short and uniform ("Expected …, but received: …"), so `../messages.ts` can hide the
 * received part under secret-looking keys with one regular expression.
 *
 * Coercion rules (same as the reference gateway):
 * - numbers accept a numeric string (`"8080"`, from `${PORT}`); an empty or non-numeric string is
 *   left as is and fails with the string quoted;
 * - booleans are never coerced: `"true"` is a string and fails.
 */
import {
  type Context, type Failure, type Struct, array, coerce, define, defaulted, record, refine, string,
} from 'superstruct'

/** One problem found by a refinement, relative to the value being refined (`path` is appended). */
export interface Issue { readonly path?: readonly (string | number)[], readonly message: string }

/** JSON value (the free-form parts of gateway.yaml, such as managed settings documents). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue }

/** Short, value-safe rendering of what was found, for messages. Strings are quoted and clipped. */
export function received (v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v)
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  return String(v)
}

const expected = (what: string, v: unknown): string => `Expected ${what}, but received: ${received(v)}`

/** Turn issues into superstruct failures anchored under the current path. */
export function issuesAt (ctx: Context, issues: readonly Issue[]): Array<Partial<Failure>> {
  return issues.map(i => ({ path: [...ctx.path, ...(i.path ?? [])], message: i.message }))
}

/** Typed `defaulted`: the fallback must have the struct's type. Use a function for objects and arrays. */
export function def<T, S> (struct: Struct<T, S>, fallback: NoInfer<T> | (() => NoInfer<T>)): Struct<T, S> {
  return defaulted(struct, fallback)
}

/**
 * An object section that may be left out: absent becomes `{}`, and the section's own field defaults
 * then fill it, so each default is written once, next to its field.
 */
export function section<T, S> (struct: Struct<T, S>): Struct<T, S> {
  return defaulted(struct, () => ({}))
}

/** Any string. */
export const str = (): Struct<string, null> =>
  define<string>('string', v => typeof v === 'string' || expected('a string', v))

/** A string of at least `n` characters (n ≥ 1). */
export function minStr (n = 1, message?: string): Struct<string, null> {
  return refine(str(), 'length', v => v.length >= n ||
    (message ?? (n === 1 ? 'Expected a non-empty string' : `Expected a string of at least ${n} characters`)))
}

/** A string matching `re`; `message` explains the rule. */
export function matching (re: RegExp, message: string): Struct<string, null> {
  return refine(str(), 'pattern', v => re.test(v) || message)
}

/** `true` or `false`. Strings such as "true" are refused (YAML booleans only). */
export const bool = (): Struct<boolean, null> =>
  define<boolean>('boolean', v => typeof v === 'boolean' || expected('true or false', v))

function toNumber (v: string): unknown {
  const t = v.trim()
  if (t === '') return v
  const n = Number(t)
  return Number.isNaN(n) ? v : n
}

/** Limits for `num()`; all inclusive except `gt`. */
export interface NumOpts { readonly int?: boolean, readonly min?: number, readonly max?: number, readonly gt?: number }

/** A finite number, coerced from a numeric string; optionally an integer within bounds. */
export function num (opts: NumOpts = {}): Struct<number, null> {
  const what = opts.int === true ? 'an integer' : 'a number'
  const base = define<number>(opts.int === true ? 'integer' : 'number', v =>
    (typeof v === 'number' && Number.isFinite(v) && (opts.int !== true || Number.isInteger(v))) || expected(what, v))
  const bounded = refine(base, 'range', v => {
    if (opts.gt !== undefined && !(v > opts.gt)) return `Expected ${what} greater than ${opts.gt}, but received: ${v}`
    if (opts.min !== undefined && v < opts.min) return `Expected ${what} of at least ${opts.min}, but received: ${v}`
    if (opts.max !== undefined && v > opts.max) return `Expected ${what} of at most ${opts.max}, but received: ${v}`
    return true
  })
  return coerce(bounded, string(), toNumber)
}

/** A positive integer (≥ 1). */
export const posInt = (max?: number): Struct<number, null> => num(max === undefined ? { int: true, min: 1 } : { int: true, min: 1, max })

/** A list whose items match `item`; `minItems` (default 0) with a custom message. */
export function list<T> (item: Struct<T, any>, minItems = 0, message?: string): Struct<T[], Struct<T, any>> {
  const base = array(item)
  if (minItems === 0) return base
  return refine(base, 'size', v => v.length >= minItems ||
    (message ?? (minItems === 1 ? 'Expected a non-empty list' : `Expected at least ${minItems} entries`)))
}

/** A mapping of string keys to `value`. */
export function map<T> (value: Struct<T, any>): Struct<Record<string, T>, null> {
  return record(str(), value)
}

/** One of the given strings. */
export function oneOf<const T extends readonly string[]> (values: T): Struct<T[number], null> {
  return define<T[number]>('enums', v =>
    (typeof v === 'string' && values.includes(v)) || expected(`one of ${values.join(', ')}`, v))
}

function isJson (v: unknown, depth: number): boolean {
  if (depth > 64) return false
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true
  if (typeof v === 'number') return Number.isFinite(v)
  if (Array.isArray(v)) return v.every(x => isJson(x, depth + 1))
  if (typeof v === 'object') return Object.values(v as object).every(x => isJson(x, depth + 1))
  return false
}

/** Any JSON value (free-form content, validated elsewhere). */
export const json = (): Struct<JsonValue, null> =>
  define<JsonValue>('json', v => isJson(v, 0) || 'Expected plain JSON data (strings, numbers, booleans, null, lists, mappings)')

/** A JSON object with free-form content. */
export const jsonObject = (): Struct<JsonObject, null> => record(str(), json()) as unknown as Struct<JsonObject, null>

/** True for a plain (non-array) object. */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
