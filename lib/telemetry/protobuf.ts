/**
 * Just enough of the protobuf wire format to walk OTLP messages without a schema compiler:
 * iterate a message's fields, and write fields back. Unknown fields are never decoded, only
 * copied, so a rewrite keeps every byte it does not mean to change.
 *
 * Wire types handled: 0 (varint), 1 (64-bit), 2 (length-delimited), 5 (32-bit). Groups (3, 4)
 * are deprecated and absent from OTLP; meeting one, a truncated field or an over-long varint
 * throws `ProtobufError`.
 */

export class ProtobufError extends Error {
  constructor (message: string) { super(message); this.name = 'ProtobufError' }
}

/** One field of a message: its number, wire type, the whole encoded field, and (wire type 2) its payload. */
export interface Field {
  readonly num: number
  readonly wire: number
  /** Tag, length prefix and payload: the bytes to copy to keep the field unchanged. */
  readonly raw: Uint8Array
  /** Payload of a length-delimited field (empty for other wire types). */
  readonly data: Uint8Array
}

const EMPTY: Uint8Array = new Uint8Array(0)

/** Read a varint at `pos`; returns [value, next position]. Values up to 2^53 are exact. */
export function readVarint (buf: Uint8Array, pos: number): [number, number] {
  let value = 0
  let mul = 1
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufError('truncated varint')
    const b = buf[pos++] as number
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return [value, pos]
    mul *= 128
  }
  throw new ProtobufError('varint longer than 10 bytes')
}

/** The fields of one message, in wire order. */
export function * fields (buf: Uint8Array): Generator<Field> {
  let pos = 0
  while (pos < buf.length) {
    const start = pos
    const [tag, afterTag] = readVarint(buf, pos)
    pos = afterTag
    const num = Math.floor(tag / 8)
    const wire = tag % 8
    if (num === 0) throw new ProtobufError('field number 0')
    let data: Uint8Array = EMPTY
    switch (wire) {
      case 0: pos = readVarint(buf, pos)[1]; break
      case 1: pos += 8; break
      case 5: pos += 4; break
      case 2: {
        const [len, afterLen] = readVarint(buf, pos)
        pos = afterLen + len
        if (pos > buf.length) throw new ProtobufError('truncated length-delimited field')
        data = buf.subarray(afterLen, pos)
        break
      }
      default: throw new ProtobufError(`unsupported wire type ${wire}`)
    }
    if (pos > buf.length) throw new ProtobufError('truncated field')
    yield { num, wire, raw: buf.subarray(start, pos), data }
  }
}

function varintBytes (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n % 128) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

/** Builds a message from chunks; copies once, in `finish()`. */
export class Writer {
  private readonly chunks: Uint8Array[] = []
  private size = 0

  /** Append bytes unchanged (e.g. a field's `raw`). */
  raw (bytes: Uint8Array): this {
    if (bytes.length > 0) { this.chunks.push(bytes); this.size += bytes.length }
    return this
  }

  /** Append a length-delimited field. */
  bytes (num: number, payload: Uint8Array): this {
    this.raw(varintBytes(num * 8 + 2))
    this.raw(varintBytes(payload.length))
    return this.raw(payload)
  }

  /** Append a string field (UTF-8). */
  string (num: number, s: string): this {
    return this.bytes(num, Buffer.from(s, 'utf8'))
  }

  get length (): number { return this.size }

  finish (): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] as Uint8Array
    const out = new Uint8Array(this.size)
    let off = 0
    for (const c of this.chunks) { out.set(c, off); off += c.length }
    return out
  }
}

/** Decode a length-delimited payload as UTF-8. */
export function utf8 (data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
}
