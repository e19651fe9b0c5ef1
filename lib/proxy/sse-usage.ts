/**
 * Reads token usage out of a Messages API response while its bytes pass through untouched.
 *
 * For a stream, only three events matter: `message_start` (input and cache token counts),
 * `message_delta` (the cumulative output count, last one wins) and `error`. The tap looks for
 * their `event:` lines with `indexOf`, collects just those events (which may straddle chunk
 * boundaries) and JSON-parses only them — the many `content_block_delta` events are never parsed.
 * It also counts streamed bytes and content deltas so an aborted stream can be billed on an
 * estimate (see `estimatedOutputTokens`).
 *
 * For a non-streaming reply, `usageFromJson` reads `usage` from the finished body.
 */

/** Token counts of one response. All counts are integers ≥ 0. */
export interface Usage {
  input_tokens: number
  output_tokens: number
  /** Cache writes in total (5-minute + 1-hour). */
  cache_creation_input_tokens: number
  cache_read_input_tokens: number
  /** The split of cache writes by TTL when the upstream reports it (else all counted as 5-minute). */
  cache_creation_5m: number
  cache_creation_1h: number
  web_search_requests: number
  /** `usage.speed` (`"fast"` for fast mode), when present. */
  speed: string | undefined
}

export const emptyUsage = (): Usage => ({
  input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
  cache_creation_5m: 0, cache_creation_1h: 0, web_search_requests: 0, speed: undefined,
})

const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined

/** Merge a Messages API `usage` object into `u` (fields present in `raw` overwrite). */
export function mergeUsage (u: Usage, raw: unknown): void {
  if (raw === null || typeof raw !== 'object') return
  const r = raw as Record<string, unknown>
  const set = (k: 'input_tokens' | 'output_tokens' | 'cache_read_input_tokens', v: unknown): void => { const n = num(v); if (n !== undefined) u[k] = n }
  set('input_tokens', r.input_tokens)
  set('output_tokens', r.output_tokens)
  set('cache_read_input_tokens', r.cache_read_input_tokens)
  const cc = num(r.cache_creation_input_tokens)
  if (cc !== undefined) u.cache_creation_input_tokens = cc
  const split = r.cache_creation as Record<string, unknown> | undefined
  const m5 = num(split?.ephemeral_5m_input_tokens)
  const h1 = num(split?.ephemeral_1h_input_tokens)
  if (m5 !== undefined || h1 !== undefined) {
    u.cache_creation_5m = m5 ?? 0
    u.cache_creation_1h = h1 ?? 0
    if (cc === undefined) u.cache_creation_input_tokens = u.cache_creation_5m + u.cache_creation_1h
  } else if (cc !== undefined) {
    u.cache_creation_5m = cc
    u.cache_creation_1h = 0
  }
  const ws = num((r.server_tool_use as Record<string, unknown> | undefined)?.web_search_requests)
  if (ws !== undefined) u.web_search_requests = ws
  if (typeof r.speed === 'string') u.speed = r.speed
}

/** Usage of a finished non-streaming response body, or null when it has none. */
export function usageFromJson (body: Buffer | string): { usage: Usage, model: string | undefined } | null {
  try {
    const j = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as Record<string, unknown>
    if (j === null || typeof j !== 'object' || typeof j.usage !== 'object') return null
    const u = emptyUsage()
    mergeUsage(u, j.usage)
    return { usage: u, model: typeof j.model === 'string' ? j.model : undefined }
  } catch {
    return null
  }
}

const PAT_MSG = Buffer.from('event: message_')
const PAT_ERR = Buffer.from('event: error')
const PAT_DELTA = Buffer.from('event: content_block_delta')
const MAX_EVENT = 8 * 1024 * 1024

/** The last `n` bytes of `prev` followed by `chunk` (what a pattern spanning chunks may start in). */
function tailOf (prev: Buffer | null, chunk: Buffer, n: number): Buffer {
  if (chunk.length >= n) return Buffer.from(chunk.subarray(chunk.length - n))
  const joined = prev === null ? chunk : Buffer.concat([prev, chunk])
  return Buffer.from(joined.subarray(Math.max(0, joined.length - n)))
}

export class UsageTap {
  /** Usage as reported so far; null until `message_start`. */
  usage: Usage | null = null
  /** True once a `message_delta` carried `output_tokens` (the terminal count). */
  finalOutput = false
  /** The model the upstream says it ran. */
  model: string | undefined
  /** An `error` event's `error` object, if the stream carried one. */
  error: { type: string, message: string } | null = null
  /** Bytes seen and `content_block_delta` events seen (for abort estimates). */
  bytes = 0
  deltas = 0
  /** An event of interest whose end has not arrived yet. */
  private partial: Buffer | null = null
  /** Last bytes of the stream, where a pattern split across chunks may have started. */
  private tail: Buffer | null = null
  private dtail: Buffer | null = null

  push (chunk: Buffer): void {
    this.bytes += chunk.length
    this.countDeltas(chunk)
    if (this.partial !== null) {
      const b = Buffer.concat([this.partial, chunk])
      this.partial = null
      this.tail = null
      this.scan(b)
      return
    }
    const prev = this.tail
    if (prev !== null) {
      // A target split across the boundary starts inside `prev`: rescan from there.
      const joint = Buffer.concat([prev, chunk.subarray(0, PAT_MSG.length - 1)])
      const s = firstTarget(joint, 0)
      if (s >= 0 && s < prev.length) {
        this.tail = null
        this.scan(Buffer.concat([prev.subarray(s), chunk]))
        return
      }
    }
    this.scan(chunk)
    if (this.partial === null) this.tail = tailOf(prev, chunk, PAT_MSG.length - 1)
  }

  /** Output tokens to bill when the stream ended before its terminal count: about 4 bytes a token. */
  estimatedOutputTokens (): number {
    if (this.finalOutput && this.usage !== null) return this.usage.output_tokens
    const framing = 90 * this.deltas
    const chars = Math.max(0, this.bytes - framing - 600)
    return Math.max(this.usage?.output_tokens ?? 0, Math.ceil(chars / 4))
  }

  private countDeltas (chunk: Buffer): void {
    const prev = this.dtail
    if (prev !== null) {
      const joint = Buffer.concat([prev, chunk.subarray(0, PAT_DELTA.length - 1)])
      const d = joint.indexOf(PAT_DELTA)
      if (d >= 0 && d < prev.length) this.deltas++
    }
    for (let d = chunk.indexOf(PAT_DELTA); d >= 0; d = chunk.indexOf(PAT_DELTA, d + PAT_DELTA.length)) this.deltas++
    this.dtail = tailOf(prev, chunk, PAT_DELTA.length - 1)
  }

  /** Handle every complete event of interest in `b`; keep an incomplete one in `partial`. */
  private scan (b: Buffer): void {
    let from = 0
    for (;;) {
      const s = firstTarget(b, from)
      if (s < 0) return
      let e = b.indexOf('\n\n', s)
      let sep = 2
      const crlf = b.indexOf('\r\n\r\n', s)
      if (crlf >= 0 && (e < 0 || crlf < e)) { e = crlf; sep = 4 }
      if (e < 0) {
        if (b.length - s <= MAX_EVENT) this.partial = Buffer.from(b.subarray(s))
        return
      }
      this.handle(b.toString('utf8', s, e))
      from = e + sep
    }
  }

  private handle (event: string): void {
    let data = ''
    for (const line of event.split(/\r?\n/)) if (line.startsWith('data:')) data += line.slice(line[5] === ' ' ? 6 : 5)
    if (data === '') return
    let j: Record<string, unknown>
    try { j = JSON.parse(data) as Record<string, unknown> } catch { return }
    if (j.type === 'message_start') {
      const m = j.message as Record<string, unknown> | undefined
      this.usage = emptyUsage()
      mergeUsage(this.usage, m?.usage)
      if (typeof m?.model === 'string') this.model = m.model
    } else if (j.type === 'message_delta') {
      this.usage ??= emptyUsage()
      const u = j.usage as Record<string, unknown> | undefined
      mergeUsage(this.usage, u)
      if (num(u?.output_tokens) !== undefined) this.finalOutput = true
    } else if (j.type === 'error') {
      const e = j.error as Record<string, unknown> | undefined
      this.error = { type: String(e?.type ?? 'api_error'), message: String(e?.message ?? '') }
    }
  }
}

function firstTarget (b: Buffer, from: number): number {
  const m = b.indexOf(PAT_MSG, from)
  const e = b.indexOf(PAT_ERR, from)
  if (m < 0) return e
  if (e < 0) return m
  return Math.min(m, e)
}
