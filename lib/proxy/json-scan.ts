/**
 * A single pass over a Messages request body that reads only the top-level fields routing needs
 * (`model`, `max_tokens`, `stream`, and where `tags` sits) without building the whole object.
 *
 * Claude Code request bodies are mostly long strings (prompts, tool results), which this scanner
 * skips with `indexOf` on the closing quote instead of walking them byte by byte; nested objects
 * and arrays are skipped by bracket depth. Full JSON validation is the upstream's job — but the
 * structure must hold together (an object at the top, strings and brackets closed), and a
 * top-level key that appears twice is refused: JSON parsers keep the last duplicate, so checking
 * the first `model` while the upstream used a second one would bypass the model allowlist.
 */
import { QUOTE, ScanError, hasBackslash, isWs, skipString, skipValue, skipWs } from './json-bytes.js'

export interface ScannedRequest {
  /** The `model` value: a string, `null` when present but not a string, `undefined` when absent. */
  model: string | null | undefined
  /** `max_tokens` when it is a finite number. */
  maxTokens: number | undefined
  /** `stream` when it is a boolean. */
  stream: boolean | undefined
  /** Byte range of the whole `"tags": {...}` member (key through value) or null. */
  tags: { start: number, end: number, value: unknown } | null
  /** Byte range of the `model` value (for rewriting it in place), or null. */
  modelRange: { start: number, end: number } | null
}

export { ScanError }

function parseSlice (b: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(b.toString('utf8', start, end))
  } catch {
    throw new ScanError(`invalid value at ${start}`)
  }
}

const K_MODEL = Buffer.from('"model"')
const K_MAX = Buffer.from('"max_tokens"')
const K_STREAM = Buffer.from('"stream"')
const K_TAGS = Buffer.from('"tags"')

function bytesAre (b: Buffer, start: number, end: number, key: Buffer): boolean {
  return end - start === key.length && b.compare(key, 0, key.length, start, end) === 0
}

/** Bits of the fields seen so far (a duplicate is refused). */
const F_MODEL = 1
const F_MAX = 2
const F_STREAM = 4
const F_TAGS = 8

/** The field a key names (one of the F_ bits), or 0. Keys with escapes are decoded; plain keys are compared as bytes. */
function fieldOf (b: Buffer, start: number, end: number): number {
  if (hasBackslash(b, start, end)) {
    const key = String(parseSlice(b, start, end))
    return key === 'model' ? F_MODEL : key === 'max_tokens' ? F_MAX : key === 'stream' ? F_STREAM : key === 'tags' ? F_TAGS : 0
  }
  return bytesAre(b, start, end, K_MODEL) ? F_MODEL : bytesAre(b, start, end, K_MAX) ? F_MAX : bytesAre(b, start, end, K_STREAM) ? F_STREAM : bytesAre(b, start, end, K_TAGS) ? F_TAGS : 0
}

/** `b[start, end)` is a string token with no escape and no control character (its bytes are its value). */
function plainString (b: Buffer, start: number, end: number): boolean {
  if (b[start] !== QUOTE) return false
  for (let i = start + 1; i < end - 1; i++) { const c = b[i] as number; if (c === 0x5c || c < 0x20) return false }
  return true
}

const TRUE = Buffer.from('true')
const FALSE = Buffer.from('false')

/** The value of a plain decimal integer of up to 9 digits (no sign, no leading zero), else undefined. */
function smallInt (b: Buffer, start: number, end: number): number | undefined {
  if (end - start < 1 || end - start > 9 || (b[start] === 0x30 && end - start > 1)) return undefined
  let n = 0
  for (let i = start; i < end; i++) {
    const d = (b[i] as number) - 0x30
    if (d < 0 || d > 9) return undefined
    n = n * 10 + d
  }
  return n
}

const NAMES: Record<number, string> = { [F_MODEL]: 'model', [F_MAX]: 'max_tokens', [F_STREAM]: 'stream', [F_TAGS]: 'tags' }

/** Scan a request body. Throws ScanError when it is not a well-formed JSON object. */
export function scanRequest (b: Buffer): ScannedRequest {
  const out: ScannedRequest = { model: undefined, maxTokens: undefined, stream: undefined, tags: null, modelRange: null }
  let i = skipWs(b, 0)
  if (b[i] !== 0x7b) throw new ScanError('request body must be a JSON object')
  i = skipWs(b, i + 1)
  if (b[i] === 0x7d) { if (skipWs(b, i + 1) !== b.length) throw new ScanError('trailing data'); return out }
  let seen = 0
  for (;;) {
    if (b[i] !== QUOTE) throw new ScanError(`expected a key at ${i}`)
    const keyStart = i
    const keyEnd = skipString(b, i)
    i = skipWs(b, keyEnd)
    if (b[i] !== 0x3a) throw new ScanError(`expected ':' at ${i}`)
    i = skipWs(b, i + 1)
    const vStart = i
    const vEnd = skipValue(b, i)
    const field = fieldOf(b, keyStart, keyEnd)
    if (field !== 0) {
      if ((seen & field) !== 0) throw new ScanError(`duplicate top-level field "${NAMES[field] as string}"`)
      seen |= field
      if (field === F_MODEL) {
        // A plain string (the usual case) is its bytes; anything else goes through JSON.parse.
        const v = plainString(b, vStart, vEnd) ? b.toString('utf8', vStart + 1, vEnd - 1) : parseSlice(b, vStart, vEnd)
        out.model = typeof v === 'string' ? v : null
        out.modelRange = { start: vStart, end: vEnd }
      } else if (field === F_MAX) {
        const v = smallInt(b, vStart, vEnd) ?? parseSlice(b, vStart, vEnd)
        out.maxTokens = typeof v === 'number' && Number.isFinite(v) ? v : undefined
      } else if (field === F_STREAM) {
        const v = bytesAre(b, vStart, vEnd, TRUE) ? true : bytesAre(b, vStart, vEnd, FALSE) ? false : parseSlice(b, vStart, vEnd)
        out.stream = typeof v === 'boolean' ? v : undefined
      } else {
        out.tags = { start: keyStart, end: vEnd, value: parseSlice(b, vStart, vEnd) }
      }
    }
    i = skipWs(b, vEnd)
    if (b[i] === 0x2c) { i = skipWs(b, i + 1); continue }
    if (b[i] === 0x7d) {
      if (skipWs(b, i + 1) !== b.length) throw new ScanError('trailing data after the JSON object')
      return out
    }
    throw new ScanError(`expected ',' or '}' at ${i}`)
  }
}

/**
 * The body an upstream should receive: the client's bytes, with `model` replaced and/or the `tags`
 * member removed when asked. Returns the original buffer when nothing changes.
 */
export function rewriteBody (b: Buffer, scan: ScannedRequest, change: { model?: string | undefined, stripTags?: boolean }): Buffer {
  const edits: Array<{ start: number, end: number, text: Buffer }> = []
  if (change.model !== undefined && scan.modelRange !== null) {
    edits.push({ ...scan.modelRange, text: Buffer.from(JSON.stringify(change.model)) })
  }
  if (change.stripTags === true && scan.tags !== null) {
    let { start, end } = scan.tags
    let j = skipWs(b, end)
    if (b[j] === 0x2c) {
      end = skipWs(b, j + 1)
    } else {
      j = start - 1
      while (j > 0 && isWs(b[j] as number)) j--
      if (b[j] === 0x2c) start = j
    }
    edits.push({ start, end, text: Buffer.alloc(0) })
  }
  if (edits.length === 0) return b
  edits.sort((x, y) => x.start - y.start)
  const parts: Buffer[] = []
  let at = 0
  for (const e of edits) { parts.push(b.subarray(at, e.start), e.text); at = e.end }
  parts.push(b.subarray(at))
  return Buffer.concat(parts)
}
