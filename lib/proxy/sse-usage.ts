/**
 * Reads token usage out of a Messages API response while its bytes pass through untouched.
 *
 * For a stream, only three events matter: `message_start` (input and cache token counts),
 * `message_delta` (the cumulative output count, last one wins) and `error`. The tap walks the
 * stream event by event (events may straddle chunk boundaries), reads each event's `event:` line
 * and JSON-parses only those three — the many `content_block_delta` events are never parsed.
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
  const it = num(r.input_tokens)
  if (it !== undefined) u.input_tokens = it
  const ot = num(r.output_tokens)
  if (ot !== undefined) u.output_tokens = ot
  const cr = num(r.cache_read_input_tokens)
  if (cr !== undefined) u.cache_read_input_tokens = cr
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

/** Most bytes kept of one event we must parse (message_start, message_delta, error) while waiting for its end. */
const MAX_EVENT = 8 * 1024 * 1024
/** Most bytes kept of any other unfinished event (only its start matters; the rest is skipped). */
const MAX_OTHER = 64 * 1024
const DELTA = 'content_block_delta'

/**
 * The tap works on each chunk as a latin1 string: one byte per character, so searching and
 * slicing it use V8's own string builtins, and an event that is parsed is turned back into its
 * exact bytes (and decoded as UTF-8) first. Only the unfinished last event is carried to the next
 * chunk.
 */
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
  /** The unfinished last event ('' when the stream is at an event boundary). */
  private rest = ''
  /** `rest` is a content delta already counted. */
  private restCounted = false
  /** The unfinished event was too long to keep and is being skipped to its end. */
  private skipping = false

  push (chunk: Buffer): void {
    // At an event boundary with LF line ends (the usual case): read the bytes in place, so only
    // the events that are parsed (and an unfinished tail) become strings.
    if (this.rest === '' && chunk.indexOf(0x0d) < 0) { this.pushBytes(chunk); return }
    this.bytes += chunk.length
    let s = this.rest === '' ? chunk.toString('latin1') : this.rest + chunk.toString('latin1')
    let cr = ''
    if (s.includes('\r')) {
      // CRLF or CR line ends: normalise to LF (a CR at the very end may be half of a CRLF: keep it for the next chunk).
      if (s.endsWith('\r')) { cr = '\r'; s = s.slice(0, -1) }
      s = s.replace(/\r\n?/g, '\n')
    }
    let from = 0
    for (let end = s.indexOf('\n\n'); end >= 0; end = s.indexOf('\n\n', from)) {
      if (this.skipping) this.skipping = false
      else if (from === 0 && this.restCounted) this.restCounted = false
      else this.event(s, from, end)
      from = end + 2
    }
    this.rest = (from === 0 ? s : s.slice(from)) + cr
    this.tail(from)
  }

  /** `push` for a chunk that starts at an event boundary and has no CR: the same steps on the bytes. */
  private pushBytes (b: Buffer): void {
    this.bytes += b.length
    let from = 0
    for (let end = b.indexOf(LFLF, 0); end >= 0; end = b.indexOf(LFLF, from)) {
      if (this.skipping) this.skipping = false
      else if (from === 0 && this.restCounted) this.restCounted = false
      else this.eventBytes(b, from, end)
      from = end + 2
    }
    this.rest = from < b.length ? b.toString('latin1', from) : ''
    this.tail(from)
  }

  /** `event` on the bytes `b[from, end)`. */
  private eventBytes (b: Buffer, from: number, end: number): void {
    let at = from
    if (!bytesAt(b, from, EVENT_B)) {
      const k = b.indexOf(NL_EVENT_B, from)
      if (k < 0 || k >= end) return
      at = k + 1
    }
    const c = b[at + 7]
    if (c === 0x63) { if (bytesAt(b, at + 7, DELTA_B)) this.deltas++; return }
    if ((c === 0x6d && (bytesAt(b, at + 7, START_B) || bytesAt(b, at + 7, MDELTA_B))) || (c === 0x65 && bytesAt(b, at + 7, ERROR_B))) {
      this.handleBytes(b, from, end)
    }
  }

  /** After a chunk: `rest` is the unfinished last event (from offset `from` of what was read). */
  private tail (from: number): void {
    if (this.rest === '') return
    if (from > 0 || !this.restCounted) {
      // A new unfinished event: count a content delta now (an abort may end the stream inside it).
      this.restCounted = isEvent(this.rest, 0, DELTA)
      if (this.restCounted) this.deltas++
    }
    const keep = isEvent(this.rest, 0, 'message_') || isEvent(this.rest, 0, 'error') ? MAX_EVENT : MAX_OTHER
    if (this.rest.length > keep) {
      // Too long to keep: skip to its end (its last byte may be the first half of the boundary).
      this.rest = this.rest.slice(-1)
      this.skipping = true
      this.restCounted = false
    }
  }

  /** Output tokens to bill when the stream ended before its terminal count: about 4 bytes a token. */
  estimatedOutputTokens (): number {
    if (this.finalOutput && this.usage !== null) return this.usage.output_tokens
    const framing = 90 * this.deltas
    const chars = Math.max(0, this.bytes - framing - 600)
    return Math.max(this.usage?.output_tokens ?? 0, Math.ceil(chars / 4))
  }

  /**
   * Output tokens streamed once `extra` more bytes have passed, for the overrun check while the
   * stream runs: the larger of the reported count and the byte estimate (the new bytes counted as
   * content, so the projection errs high).
   */
  projectedOutputTokens (extra: number): number {
    const chars = Math.max(0, this.bytes + extra - 90 * this.deltas - 600)
    return Math.max(this.usage?.output_tokens ?? 0, Math.ceil(chars / 4))
  }

  /** One complete event, `s[from, end)`: count it, and parse the few that carry usage. */
  private event (s: string, from: number, end: number): void {
    let at = from
    if (!s.startsWith('event: ', from)) {
      // Another field (id:, a comment) may come first.
      const k = s.indexOf('\nevent: ', from)
      if (k < 0 || k >= end) return
      at = k + 1
    }
    // The first letter of the name sorts the events out: content_block_*, message_*, error, ping.
    const c = s.charCodeAt(at + 7)
    if (c === 0x63) { if (s.startsWith(DELTA, at + 7)) this.deltas++; return }
    if ((c === 0x6d && (s.startsWith('message_start', at + 7) || s.startsWith('message_delta', at + 7))) || (c === 0x65 && s.startsWith('error', at + 7))) {
      this.handle(s.slice(from, end))
    }
  }

  private handle (event: string): void {
    let data = ''
    for (const line of event.split('\n')) if (line.startsWith('data:')) data += line.slice(line[5] === ' ' ? 6 : 5)
    if (data === '') return
    // Back to the exact bytes, read as UTF-8.
    if (/[\x80-\xff]/.test(data)) data = Buffer.from(data, 'latin1').toString('utf8')
    this.parse(data)
  }

  /**
   * `handle` on the bytes `b[from, end)` (LF line ends): the usual single `data:` line is decoded
   * as UTF-8 where it lies, with no string of the whole event and no split; an event with several
   * `data:` lines takes the string path.
   */
  private handleBytes (b: Buffer, from: number, end: number): void {
    let start = -1
    let stop = -1
    for (let i = from; i < end;) {
      let nl = b.indexOf(0x0a, i)
      if (nl < 0 || nl > end) nl = end
      if (bytesAt(b, i, DATA_B)) {
        if (start >= 0) { this.handle(b.toString('latin1', from, end)); return }
        start = b[i + 5] === 0x20 ? i + 6 : i + 5
        stop = nl
      }
      i = nl + 1
    }
    if (start >= stop) return
    this.parse(b.toString('utf8', start, stop))
  }

  /** One event's data: keep what it says about usage, the model and errors. */
  private parse (data: string): void {
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

const LFLF = Buffer.from('\n\n')
const EVENT_B = Buffer.from('event: ')
const NL_EVENT_B = Buffer.from('\nevent: ')
const DELTA_B = Buffer.from(DELTA)
const START_B = Buffer.from('message_start')
const MDELTA_B = Buffer.from('message_delta')
const ERROR_B = Buffer.from('error')
const DATA_B = Buffer.from('data:')

/** `b` holds the bytes of `w` at offset `at`. */
function bytesAt (b: Buffer, at: number, w: Buffer): boolean {
  if (at + w.length > b.length) return false
  for (let i = 0; i < w.length; i++) if (b[at + i] !== w[i]) return false
  return true
}

/** `s` has an `event: <name…>` line starting at `at` (`name` may be a prefix). */
function isEvent (s: string, at: number, name: string): boolean {
  return s.startsWith('event: ', at) && s.startsWith(name, at + 7)
}
