/**
 * Layering one settings document onto another: how a policy's settings combine with the
 * catch-all (`match: {}`) base layer, and, with `policy_mode: layered`, how several matching
 * policies combine. `over` is the more specific layer.
 *
 * | keys                                                         | rule                                   |
 * |--------------------------------------------------------------|----------------------------------------|
 * | anything not listed below (scalars, allow-lists such as      | `over` replaces `base` (shallow)       |
 * | `availableModels` and `permissions.allow`, other objects)    |                                        |
 * | `env`, `modelOverrides`, `skillOverrides`                    | shallow object merge, `over` wins      |
 * | `disabledMcpjsonServers`, `deniedMcpServers`,                | union, duplicates (same JSON) dropped, |
 * | `blockedMarketplaces`, `deniedModels`                        | `base` entries first                   |
 * | `permissions`                                                | shallow merge; `deny` and `ask` unioned|
 * | `hooks`                                                      | shallow merge; every event's list      |
 * |                                                              | unioned                                |
 *
 * Key order follows `base` with new keys appended, and keys whose merged value is undefined are
 * dropped, so the result serialises the same way every time.
 *
 * Claude Desktop overlays (`desktop:`) merge with their own rules (`mergeDesktop`).
 */
import { canonicalJson } from './checksum.js'

export type Settings = Record<string, unknown>

const RECORD_KEYS = ['env', 'modelOverrides', 'skillOverrides'] as const
const UNION_KEYS = ['disabledMcpjsonServers', 'deniedMcpServers', 'blockedMarketplaces', 'deniedModels'] as const
const UNION_PERMISSIONS = ['deny', 'ask'] as const

const isRecord = (v: unknown): v is Settings => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Union of two lists, base first, dropping entries whose JSON repeats an earlier one. */
export function unionLists (base: unknown, over: unknown): unknown[] | undefined {
  const a = Array.isArray(base) ? base : []
  const b = Array.isArray(over) ? over : []
  if (a.length === 0 && b.length === 0) return Array.isArray(base) || Array.isArray(over) ? [] : undefined
  const seen = new Set<string>()
  const out: unknown[] = []
  for (const x of [...a, ...b]) {
    const key = canonicalJson(x)
    if (!seen.has(key)) { seen.add(key); out.push(x) }
  }
  return out
}

function dropUndefined<T extends Settings> (o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
  return o
}

/** Shallow merge of two optional objects, with the listed keys (every key when omitted) unioned. */
function mergeWithUnions (base: unknown, over: unknown, unionKeys?: readonly string[]): Settings | undefined {
  const a = isRecord(base) ? base : undefined
  const b = isRecord(over) ? over : undefined
  if (a === undefined && b === undefined) return undefined
  const out: Settings = { ...a, ...b }
  for (const k of unionKeys ?? Object.keys(out)) {
    if (a?.[k] !== undefined || b?.[k] !== undefined) out[k] = unionLists(a?.[k], b?.[k])
  }
  return dropUndefined(out)
}

/** `over` layered onto `base` with the rules in the table above. Neither input is modified. */
export function mergeSettings (base: Readonly<Settings>, over: Readonly<Settings>, recordKeys: readonly string[] = RECORD_KEYS): Settings {
  const out: Settings = { ...base, ...over }
  for (const k of recordKeys) {
    const a = base[k]
    const b = over[k]
    if (isRecord(a) && isRecord(b)) out[k] = { ...a, ...b }
  }
  for (const k of UNION_KEYS) {
    if (base[k] !== undefined || over[k] !== undefined) out[k] = unionLists(base[k], over[k])
  }
  if (base.permissions !== undefined || over.permissions !== undefined) {
    out.permissions = mergeWithUnions(base.permissions, over.permissions, UNION_PERMISSIONS) ?? over.permissions
  }
  if (base.hooks !== undefined || over.hooks !== undefined) {
    out.hooks = mergeWithUnions(base.hooks, over.hooks) ?? over.hooks
  }
  return dropUndefined(out)
}

/**
 * A Claude Desktop overlay layered onto the base overlay: keys the policy leaves unset come from
 * the base, `disabledBuiltinTools` lists are unioned, and a `builtinToolPolicy` value other than
 * `allow` in the base wins over the policy's (per tool when it is a mapping); everything else is
 * replaced whole. Undefined when neither layer has an overlay.
 */
export function mergeDesktop (base: Readonly<Settings> | undefined, over: Readonly<Settings> | undefined): Settings | undefined {
  if (base === undefined && over === undefined) return undefined
  const out: Settings = { ...base, ...over }
  const tools = unionLists(base?.disabledBuiltinTools, over?.disabledBuiltinTools)
  if (tools !== undefined) out.disabledBuiltinTools = tools
  const bp = base?.builtinToolPolicy
  const op = over?.builtinToolPolicy
  if (bp !== undefined && op !== undefined) {
    if (typeof bp === 'string') {
      if (bp !== 'allow') out.builtinToolPolicy = bp
    } else if (isRecord(bp) && isRecord(op)) {
      const merged: Settings = { ...bp, ...op }
      for (const [tool, v] of Object.entries(bp)) if (v !== 'allow') merged[tool] = v
      out.builtinToolPolicy = merged
    }
  }
  return out
}
