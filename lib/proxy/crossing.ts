/**
 * Crossing providers: what an attempt's body and betas lose when it goes to a provider other than
 * the one that produced the conversation so far (failover or a pool moving a session from, say,
 * the Anthropic API to Bedrock).
 *
 * Whose turns are they? Weir keeps no per-session record of which upstream answered, so the
 * session's home is taken to have produced the earlier assistant turns: in an upstream pool the
 * member its rendezvous order puts first with cooldowns ignored (pools/index.ts `Plan.home`),
 * else the first candidate (the first configured upstream serving the model). That is where the
 * session's requests go while everything is healthy, and it stays the home while that member
 * cools, so every request served elsewhere meanwhile is a crossing. An attempt whose upstream's
 * `provider` differs from the home's is a crossing; same-provider failover (two Bedrock regions,
 * two Anthropic keys) is not. The gap: turns produced elsewhere during a cooldown go back to the
 * home unchanged once it recovers; if the home refuses them the client gets
 * `capability_rejected: thinking_signature` and recovers by itself (docs/configuration.md).
 *
 * Invariants:
 *   - No crossing, or nothing to change: the body is the client's bytes, untouched (same Buffer).
 *   - Only the `messages` member (and, in one case, `thinking`) is re-encoded; every other
 *     top-level member keeps its original bytes (body-edit.ts).
 *   - `thinking` and `redacted_thinking` blocks are removed from assistant turns: their signature
 *     (or encrypted data) was minted elsewhere and the target may refuse it. Dropping earlier
 *     turns' thinking is what the providers' docs allow (the API ignores it for context anyway).
 *   - The latest assistant turn of a tool loop must start with thinking when thinking is on; when
 *     its thinking was removed, the request's top-level `thinking` is removed too (this one answer
 *     is produced without extended thinking) rather than sent to a certain 400.
 *   - An assistant turn left empty is removed (adjacent user turns are accepted by the API).
 *   - Betas are not guessed: a crossing attempt refused with `capability_rejected: beta_header:X`
 *     (error-class.ts) is retried once on the same upstream without X (`withoutBetas`).
 *   - Body fields are not guessed either: a crossing attempt refused over a member, a server-tool
 *     type or a `cache_control` ttl the target lacks is repeated without it (crossing-fields.ts;
 *     `fixes` here).
 */
import { withoutFields } from './crossing-fields.js'
import { betaList, members, rebuild, valueOf } from './upstreams/body-edit.js'

/** Block types whose opaque payload is bound to the provider that minted it. */
const SIGNED = new Set(['thinking', 'redacted_thinking'])

type Block = Record<string, unknown>
interface Message { role?: unknown, content?: unknown }

/**
 * The body for an attempt that crosses providers: signed thinking removed from assistant turns
 * (and top-level `thinking` when the tool loop's latest turn lost its own), then what `fixes`
 * (crossing-fields.ts `refusedField`) name. Returns `body` itself when nothing needs changing.
 */
export function crossedBody (body: Buffer, fixes: readonly string[] = []): Buffer {
  return withoutFields(withoutSignedThinking(body), fixes)
}

function withoutSignedThinking (body: Buffer): Buffer {
  let ms
  try { ms = members(body) } catch { return body }
  const msg = ms.find((m) => m.key === 'messages')
  if (msg === undefined) return body
  const hit = body.indexOf('thinking', msg.valueStart)
  if (hit === -1 || hit >= msg.end) return body
  let list: unknown
  try { list = valueOf(body, msg) } catch { return body }
  if (!Array.isArray(list)) return body
  let changed = false
  let lastAssistantLost = false
  let lastAssistant = -1
  for (let i = 0; i < list.length; i++) if ((list[i] as Message | null)?.role === 'assistant') lastAssistant = i
  const out: unknown[] = []
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as Message | null
    if (m === null || typeof m !== 'object' || m.role !== 'assistant' || !Array.isArray(m.content)) { out.push(m); continue }
    const kept = (m.content as unknown[]).filter((b) => !(typeof b === 'object' && b !== null && SIGNED.has((b as Block).type as string)))
    if (kept.length === m.content.length) { out.push(m); continue }
    changed = true
    if (i === lastAssistant) lastAssistantLost = true
    if (kept.length > 0) out.push({ ...m, content: kept })
  }
  if (!changed) return body
  const drop = new Set<string>()
  const th = ms.find((m) => m.key === 'thinking')
  if (lastAssistantLost && th !== undefined && inToolLoop(list as unknown[], lastAssistant) && thinkingOn(valueOf(body, th))) drop.add('thinking')
  return rebuild(body, ms, { drop, replace: new Map([['messages', JSON.stringify(out)]]) })
}

/** The assistant turn at `i` asked for tools and only tool results (no new user text) follow it. */
function inToolLoop (list: unknown[], i: number): boolean {
  const a = list[i] as Message
  if (!Array.isArray(a.content) || !a.content.some((b) => (b as Block | null)?.type === 'tool_use')) return false
  const next = list[i + 1] as Message | undefined
  return next !== undefined && Array.isArray(next.content) && next.content.some((b) => (b as Block | null)?.type === 'tool_result')
}

function thinkingOn (v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as Block).type !== 'disabled'
}

/** An `anthropic-beta` header without `drop`'s values; undefined when none remain. */
export function withoutBetas (header: string | undefined, drop: readonly string[]): string | undefined {
  if (drop.length === 0) return header
  const kept = betaList(header).filter((b) => !drop.includes(b))
  return kept.length === 0 ? undefined : kept.join(',')
}
