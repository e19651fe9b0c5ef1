/**
 * Byte-level JSON primitives shared by the request scanner (json-scan.ts) and the cloud body
 * editor (upstreams/body-edit.ts): skip whitespace, a string, or a whole value without decoding
 * it. Strings are skipped with `indexOf` on the closing quote, so long prompt text costs a native
 * search rather than a JavaScript loop.
 */

/** The body is not the JSON these helpers expect. */
export class ScanError extends Error {
  override name = 'ScanError'
}

export const QUOTE = 0x22
export const BACKSLASH = 0x5c

export function isWs (c: number): boolean { return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 }

export function skipWs (b: Uint8Array, i: number): number {
  while (i < b.length && isWs(b[i] as number)) i++
  return i
}

/** `i` at an opening quote; returns the index just past the closing quote. */
export function skipString (b: Buffer, i: number): number {
  let from = i + 1
  for (;;) {
    const q = b.indexOf(QUOTE, from)
    if (q < 0) throw new ScanError('unterminated string')
    let bs = 0
    for (let k = q - 1; k > i && b[k] === BACKSLASH; k--) bs++
    if ((bs & 1) === 0) return q + 1
    from = q + 1
  }
}

/** True when `b[start, end)` holds a backslash (an escape in a short token such as a key). */
export function hasBackslash (b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] === BACKSLASH) return true
  return false
}

/** Skip one JSON value starting at `i` (after whitespace); returns the index just past it. */
export function skipValue (b: Buffer, i: number): number {
  const c = b[i]
  if (c === undefined) throw new ScanError('unexpected end of body')
  if (c === QUOTE) return skipString(b, i)
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    while (i < b.length) {
      const d = b[i] as number
      if (d === QUOTE) { i = skipString(b, i); continue }
      if (d === 0x7b || d === 0x5b) depth++
      else if (d === 0x7d || d === 0x5d) { depth--; if (depth === 0) return i + 1 }
      i++
    }
    throw new ScanError('unbalanced brackets')
  }
  // number or literal: up to the next delimiter
  const start = i
  while (i < b.length) {
    const d = b[i] as number
    if (d === 0x2c || d === 0x7d || d === 0x5d || isWs(d)) break
    i++
  }
  if (i === start) throw new ScanError(`unexpected character at ${start}`)
  return i
}
