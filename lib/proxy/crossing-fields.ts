/**
 * Crossing providers, the body side: request fields one provider accepts and another refuses.
 *
 * The Anthropic API takes members and tool types that Bedrock, Vertex or Foundry may not (yet):
 * `context_management`, `container`, `mcp_servers`, `service_tier`, versioned server tools
 * (`web_fetch_…`, `code_execution_…`, `memory_…`), a `ttl` on `cache_control`. The set changes
 * with every model launch and differs per region, so it is not guessed: like a refused beta
 * (crossing.ts `withoutBetas`), a crossing attempt refused with a 400 that names one of these is
 * repeated on the same upstream without it. Staying on the session's home provider never reaches
 * this code, so a request the client's own provider accepts is never changed.
 *
 * Invariants:
 *   - Only a 400 whose message names the thing removed counts, and only when the sent body has it;
 *     anything else (a field we do not know how to shed, a refusal of the conversation itself)
 *     stays a refusal and reaches the client as it would have.
 *   - A fix removes the least that makes the refusal go away: one top-level member; every tool of
 *     one refused server-tool type (and `tool_choice` when it names one of them); `ttl` inside
 *     `cache_control` objects (the default lifetime then applies). Other members keep their bytes.
 *   - Removing a client tool (one with an `input_schema` and no versioned type) is never done.
 *   - The caller bounds the repeats (messages.ts counts fixes and betas together).
 * Fix names: `field:<key>`, `tool:<type>`, `cache_ttl`.
 */
import { members, rebuild, valueOf } from './upstreams/body-edit.js'

/** Optional top-level members a provider may not know. Core members (messages, system, tools…) are never shed. */
const SHEDDABLE = new Set(['context_management', 'container', 'mcp_servers', 'service_tier'])
/** Words providers use for a member or value they do not take. */
const REFUSAL = /extra inputs are not permitted|not permitted|extraneous key|unknown (?:field|name|parameter)|unrecognized|not supported|does not match any of the expected tags|unexpected (?:field|value)|invalid (?:tool )?type/i
/** A server tool's versioned type, e.g. `web_fetch_20250910`. */
const SERVER_TOOL = /^[a-z][a-z0-9_]*_20\d{6}$/

type Obj = Record<string, unknown>

/** The message inside an upstream's 400 body: Anthropic's envelope, Google's, or Bedrock's `{message}`. */
export function refusalMessage (body: Buffer): string | undefined {
  let j: unknown
  try { j = JSON.parse(body.toString('utf8')) } catch { return undefined }
  if (Array.isArray(j)) j = j[0]
  if (typeof j !== 'object' || j === null) return undefined
  const o = j as Obj
  const e = typeof o.error === 'object' && o.error !== null ? o.error as Obj : undefined
  const m = e?.message ?? o.message ?? o.Message
  return typeof m === 'string' ? m : undefined
}

/**
 * The fix for a crossing attempt's 400 (`errBody`) given the body that was sent, or undefined
 * when the refusal is not about a field this module can shed (or the field is not in `sent`).
 */
export function refusedField (errBody: Buffer, sent: Buffer): string | undefined {
  const msg = refusalMessage(errBody)
  if (msg === undefined || !REFUSAL.test(msg)) return undefined
  let ms
  try { ms = members(sent) } catch { return undefined }
  const keys = new Set(ms.map((m) => m.key))
  // cache_control.ttl, wherever it sits (system.0.cache_control.ttl, messages.3.content.1.cache_control.ttl…).
  if (/cache_control\W{1,3}ttl\b/i.test(msg) && sent.includes('"ttl"')) return 'cache_ttl'
  // A refused server tool: `tools.2: Input tag 'web_fetch_20250910' found …`, or only its index (`tools.2.type: …`).
  const toolsM = ms.find((m) => m.key === 'tools')
  if (toolsM !== undefined && /\btools\b/i.test(msg)) {
    let tools: unknown
    try { tools = valueOf(sent, toolsM) } catch { tools = undefined }
    if (Array.isArray(tools)) {
      const types = new Set(tools.map((x) => (x as Obj | null)?.type).filter((x): x is string => typeof x === 'string' && SERVER_TOOL.test(x)))
      // The tag it found (messages also list the tags it expected: those are not the refused one).
      const tag = /input tag '([^']+)'/i.exec(msg)?.[1]
      if (tag !== undefined && types.has(tag)) return `tool:${tag}`
      const at = /\btools[.[](\d+)\b/.exec(msg)
      const ty = at === null ? undefined : (tools[Number(at[1])] as Obj | null)?.type
      if (typeof ty === 'string' && types.has(ty)) return `tool:${ty}`
    }
  }
  for (const k of SHEDDABLE) {
    if (!keys.has(k)) continue
    const esc = k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    if (new RegExp(`(?:^|[\\s#:'"\`\\[(])${esc}(?:$|[\\s.:'"\`\\])])`).test(msg)) return `field:${k}`
  }
  return undefined
}

/** `body` without what `fixes` name; `body` itself when nothing applies. */
export function withoutFields (body: Buffer, fixes: readonly string[]): Buffer {
  if (fixes.length === 0) return body
  let ms
  try { ms = members(body) } catch { return body }
  const drop = new Set<string>()
  const replace = new Map<string, string>()
  const refusedTools = new Set(fixes.filter((f) => f.startsWith('tool:')).map((f) => f.slice(5)))
  const keys = new Set(ms.map((m) => m.key))
  for (const f of fixes) if (f.startsWith('field:') && keys.has(f.slice(6))) drop.add(f.slice(6))
  const toolsM = ms.find((m) => m.key === 'tools')
  let tools: unknown = toolsM === undefined ? undefined : valueOf(body, toolsM)
  if (refusedTools.size > 0 && Array.isArray(tools)) {
    const gone = tools.filter((x) => refusedTools.has((x as Obj | null)?.type as string))
    if (gone.length > 0) {
      tools = tools.filter((x) => !gone.includes(x))
      if ((tools as unknown[]).length === 0) drop.add('tools')
      else replace.set('tools', JSON.stringify(tools))
      const names = new Set(gone.map((x) => (x as Obj).name))
      const tc = ms.find((m) => m.key === 'tool_choice')
      const choice = tc === undefined ? undefined : valueOf(body, tc) as Obj | null
      if (tc !== undefined && (drop.has('tools') || (choice?.type === 'tool' && names.has(choice.name)))) drop.add('tool_choice')
    }
  }
  if (fixes.includes('cache_ttl')) {
    for (const m of ms) {
      if (m.key !== 'system' && m.key !== 'messages' && m.key !== 'tools') continue
      if (drop.has(m.key) || body.indexOf('"ttl"', m.valueStart) === -1 || body.indexOf('"ttl"', m.valueStart) >= m.end) continue
      const v = m.key === 'tools' && replace.has('tools') ? JSON.parse(replace.get('tools') as string) : valueOf(body, m)
      if (stripTtl(v)) replace.set(m.key, JSON.stringify(v))
    }
  }
  for (const k of drop) replace.delete(k)
  if (drop.size === 0 && replace.size === 0) return body
  return rebuild(body, ms, { drop, replace })
}

/** Remove `ttl` from every `cache_control` object under `v` (in place); true when one was removed. */
function stripTtl (v: unknown): boolean {
  if (Array.isArray(v)) { let any = false; for (const x of v) any = stripTtl(x) || any; return any }
  if (typeof v !== 'object' || v === null) return false
  const o = v as Obj
  let any = false
  const cc = o.cache_control
  if (typeof cc === 'object' && cc !== null && 'ttl' in cc) { delete (cc as Obj).ttl; any = true }
  // Tool inputs and schemas are the client's data, not request options: left alone.
  for (const [k, x] of Object.entries(o)) if (k !== 'cache_control' && k !== 'input' && k !== 'input_schema' && typeof x === 'object' && x !== null) any = stripTtl(x) || any
  return any
}
