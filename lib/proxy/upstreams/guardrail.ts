/**
 * Bedrock guardrail input tagging (`guardrail.input_tagging`).
 *
 * With a guardrail on an InvokeModel request, Bedrock evaluates the whole prompt unless parts of it
 * are wrapped in `<amazon-bedrock-guardrails-guardContent_SUFFIX>…</…_SUFFIX>` tags and the body
 * names the suffix in `"amazon-bedrock-guardrailConfig": {"tagSuffix": "SUFFIX"}`; then only the
 * tagged text is evaluated. Claude Code resends the whole conversation on every turn, so checking
 * everything every time re-judges (and re-bills) old turns. The modes choose what is tagged:
 *
 *   - `last_message`: the newest user turn — the non-assistant messages after the last assistant
 *     message (an assistant prefill at the very end is skipped);
 *   - `user_messages`: every non-assistant message;
 *   - `all_messages`: every message;
 *   - `all_messages_and_system`: every message and the system prompt.
 *
 * Inside a message, text is tagged in string content, `text` blocks, text `document` sources (and
 * their `context`), and recursively in `tool_result`, `search_result` and `mcp_tool_result`
 * content. Blank strings are left alone. The suffix is random per request, so a prompt cannot
 * close the tag early. When nothing could be tagged the body is left as it was (Bedrock then
 * evaluates all of it).
 */
import { randomBytes } from 'node:crypto'

export type InputTagging = 'last_message' | 'user_messages' | 'all_messages' | 'all_messages_and_system'

export const GUARD_TAG = 'amazon-bedrock-guardrails-guardContent'
export const GUARD_CONFIG_KEY = 'amazon-bedrock-guardrailConfig'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

class Tagger {
  used = false
  constructor (readonly suffix: string) {}

  text (s: string): string {
    if (s.trim() === '') return s
    this.used = true
    return `<${GUARD_TAG}_${this.suffix}>${s}</${GUARD_TAG}_${this.suffix}>`
  }

  content (c: unknown): unknown {
    if (typeof c === 'string') return this.text(c)
    if (Array.isArray(c)) return c.map((b) => this.block(b))
    return c
  }

  private nested (b: Obj): Obj {
    return 'content' in b ? { ...b, content: this.content(b.content) } : b
  }

  private block (b: unknown): unknown {
    if (!isObj(b)) return b
    if (b.type === 'text' && typeof b.text === 'string') return { ...b, text: this.text(b.text) }
    if (b.type === 'document' && isObj(b.source)) {
      const src = b.source
      const source = src.type === 'text' && typeof src.data === 'string' ? { ...src, data: this.text(src.data) } : this.nested(src)
      return { ...b, ...(typeof b.context === 'string' ? { context: this.text(b.context) } : {}), source }
    }
    if (b.type === 'tool_result' || b.type === 'search_result' || b.type === 'mcp_tool_result') return this.nested(b)
    return b
  }
}

export interface Tagged {
  /** New JSON text for `messages` (and `system` when it changed). */
  readonly messages: string
  readonly system?: string
  readonly suffix: string
}

/**
 * Tag `messages` (and `system`) for `mode`. Returns null when nothing was tagged.
 * Throws when `messages` is not an array.
 */
export function tagInput (messages: unknown, system: unknown, mode: InputTagging, suffix = randomBytes(10).toString('hex')): Tagged | null {
  if (!Array.isArray(messages)) throw new Error('messages is not an array')
  const t = new Tagger(suffix)
  const isAssistant = (m: unknown): boolean => isObj(m) && m.role === 'assistant'
  // [from, to): the newest user turn, skipping a trailing assistant prefill
  let to = messages.length
  while (to > 0 && isAssistant(messages[to - 1])) to--
  let from = to
  while (from > 0 && !isAssistant(messages[from - 1])) from--
  const pick = (m: unknown, i: number): boolean => {
    if (!isObj(m)) return false
    switch (mode) {
      case 'all_messages':
      case 'all_messages_and_system': return true
      case 'user_messages': return !isAssistant(m)
      case 'last_message': return i >= from && i < to
    }
  }
  const out = messages.map((m, i) => pick(m, i) ? { ...(m as Obj), content: t.content((m as Obj).content) } : m)
  let sys: string | undefined
  if (mode === 'all_messages_and_system' && system !== undefined) sys = JSON.stringify(t.content(system))
  if (!t.used) return null
  return { messages: JSON.stringify(out), ...(sys !== undefined ? { system: sys } : {}), suffix }
}

export const TRACE_KEY = 'amazon-bedrock-trace'
const TRACE_BYTES = Buffer.from(`"${TRACE_KEY}"`)

/**
 * With `guardrail_trace`, Bedrock adds the guardrail's assessment (`amazon-bedrock-trace`) to the
 * final event or message. It names the operator's policies and what matched, so it goes to the
 * operator log and is removed before the client; `amazon-bedrock-guardrailAction` stays.
 * Returns the JSON unchanged (the same Buffer) when it carries no trace.
 */
export function stripTrace (json: Buffer, log: (line: string) => void): Buffer {
  if (!json.includes(TRACE_BYTES)) return json
  let v: Record<string, unknown>
  try { v = JSON.parse(json.toString('utf8')) as Record<string, unknown> } catch { return json }
  const holder = TRACE_KEY in v ? v : typeof v.message === 'object' && v.message !== null && TRACE_KEY in v.message ? v.message as Record<string, unknown> : null
  if (holder === null) return json
  const trace = holder[TRACE_KEY]
  delete holder[TRACE_KEY]
  const action = v['amazon-bedrock-guardrailAction'] ?? holder['amazon-bedrock-guardrailAction']
  log(`guardrail trace action=${typeof action === 'string' ? action : 'none'}: ${JSON.stringify(trace).slice(0, 3000)}`)
  return Buffer.from(JSON.stringify(v))
}
