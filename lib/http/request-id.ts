/**
 * Fresh request ids: random (version 4) UUIDs, as `crypto.randomUUID` makes them, at one string
 * per id. `randomUUID` joins twenty pieces into its result (about 0.5 KB of garbage per request,
 * measured in bench/alloc-server.ts); here the hex digits are written into one buffer and read out
 * as a single one-byte string.
 *
 * Invariant: the bytes come from the CSPRNG (`randomFillSync`, 128 ids drawn at a time, each
 * 16-byte slot used once), with the version and variant bits set as RFC 9562 §5.4 says.
 */
import { randomFillSync } from 'node:crypto'

const HEX = Buffer.from('0123456789abcdef', 'latin1')
const IDS_PER_DRAW = 128
const pool = Buffer.alloc(16 * IDS_PER_DRAW)
let at = pool.length
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1')

/** A random version 4 UUID, lower-case, 36 characters. */
export function newRequestId (): string {
  if (at === pool.length) { randomFillSync(pool); at = 0 }
  let o = 0
  for (let i = 0; i < 16; i++) {
    let b = pool[at + i] as number
    if (i === 6) b = (b & 0x0f) | 0x40
    else if (i === 8) b = (b & 0x3f) | 0x80
    if (o === 8 || o === 13 || o === 18 || o === 23) o++
    text[o++] = HEX[b >> 4] as number
    text[o++] = HEX[b & 15] as number
  }
  at += 16
  return text.toString('latin1', 0, 36)
}
