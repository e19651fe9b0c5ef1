/**
 * Top-level member surgery on a JSON request body, for the cloud providers' body rules (drop
 * `model`/`stream`/`tags`, add `anthropic_version`, merge `anthropic_beta`, …).
 *
 * The body is split into its top-level members without parsing their values; the new body is
 * `{` + added members + the kept members' original bytes + `}`. Values are never re-encoded, so a
 * multi-megabyte conversation costs one linear scan and one copy. The input must already have
 * passed `scanRequest` (a well-formed object); this scanner trusts that.
 */
import { BACKSLASH, skipString, skipValue, skipWs } from '../json-bytes.js'

export interface Member {
  /** Decoded key. */
  readonly key: string
  /** Byte offset of the key's opening quote. */
  readonly start: number
  /** Byte offset of the value. */
  readonly valueStart: number
  /** Byte offset just past the value. */
  readonly end: number
}

/** The top-level members of a JSON object body, in order. */
export function members (b: Buffer): Member[] {
  const out: Member[] = []
  let i = skipWs(b, 0)
  if (b[i] !== 0x7b) throw new Error('body is not a JSON object')
  i = skipWs(b, i + 1)
  if (b[i] === 0x7d) return out
  for (;;) {
    const start = i
    const keyEnd = skipString(b, i)
    const rawKey = b.subarray(start + 1, keyEnd - 1)
    const key = rawKey.includes(BACKSLASH) ? JSON.parse(b.toString('utf8', start, keyEnd)) as string : rawKey.toString('utf8')
    i = skipWs(b, keyEnd) + 1 // the ':'
    const valueStart = skipWs(b, i)
    const end = skipValue(b, valueStart)
    out.push({ key, start, valueStart, end })
    i = skipWs(b, end)
    if (b[i] === 0x2c) { i = skipWs(b, i + 1); continue }
    return out
  }
}

/** The parsed value of a member. */
export function valueOf (b: Buffer, m: Member): unknown {
  return JSON.parse(b.toString('utf8', m.valueStart, m.end))
}

/**
 * A new body: `add` members first (key → JSON text), then every original member whose key is not
 * in `drop`, with `replace` (key → JSON text) swapping a member's value in place.
 */
export function rebuild (b: Buffer, ms: readonly Member[], change: { drop?: ReadonlySet<string>, add?: ReadonlyArray<[string, string]>, replace?: ReadonlyMap<string, string> }): Buffer {
  const parts: Buffer[] = [Buffer.from('{')]
  let first = true
  const comma = (): void => { if (!first) parts.push(Buffer.from(',')); first = false }
  for (const [k, v] of change.add ?? []) {
    comma()
    parts.push(Buffer.from(`${JSON.stringify(k)}:${v}`))
  }
  for (const m of ms) {
    if (change.drop?.has(m.key) === true) continue
    comma()
    const r = change.replace?.get(m.key)
    if (r === undefined) parts.push(b.subarray(m.start, m.end))
    else parts.push(b.subarray(m.start, m.valueStart), Buffer.from(r))
  }
  parts.push(Buffer.from('}'))
  return Buffer.concat(parts)
}

/** Split a comma-separated `anthropic-beta` header into trimmed, non-empty values. */
export function betaList (header: string | undefined): string[] {
  return header === undefined ? [] : header.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

/** `request-tags-*`: the beta that goes with the body's `tags`, which Bedrock, Mantle and Vertex refuse. */
export const TAGS_BETA = /^request-tags-/

/** The header's betas minus the request-tags one, re-joined; undefined when none remain. */
export function withoutTagsBeta (header: string | undefined): string | undefined {
  const kept = betaList(header).filter((s) => !TAGS_BETA.test(s))
  return kept.length === 0 ? undefined : kept.join(',')
}
