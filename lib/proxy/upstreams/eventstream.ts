/**
 * Bedrock's streamed reply (`application/vnd.amazon.eventstream`) re-emitted as Anthropic SSE.
 *
 * The AWS event stream is a sequence of binary messages: a 12-byte prelude (total length, headers
 * length, prelude CRC32), typed headers, a payload and a message CRC32. Messages arrive split
 * across TCP reads at any byte, so bytes are collected until the prelude's total length is present,
 * then each whole message is handed to the AWS SDK's own codec (@smithy/eventstream-codec), which
 * checks both CRCs and parses the headers. A bad CRC or an impossible length throws: the hot path
 * then ends the client's stream with an `error` event and aborts the upstream.
 *
 * A `chunk` event's payload is `{"bytes":"<base64>"}`; the decoded bytes are one Anthropic stream
 * event's JSON, written out unchanged as `event: <type>\ndata: <json>\n\n` (the type is read from
 * the JSON's leading `"type"`). An `exception` message (throttling, model stream error, validation,
 * …) becomes an Anthropic `error` event with a gateway-authored message — AWS's text can name
 * accounts and ARNs, so it goes to the operator log only — and ends the stream.
 */
import type { EventStreamCodec } from '@smithy/eventstream-codec'
import { eventStreamSdk } from '../../cloud/sdk.js'
import { anthropicEnvelope } from '../../errors.js'
import { ops } from '../../log.js'
import type { StreamDecoder } from './types.js'

export const EVENTSTREAM_TYPE = 'application/vnd.amazon.eventstream'
const SSE_TYPE = 'text/event-stream; charset=utf-8'
/** Bedrock chunks are at most a few KiB; anything claiming more than this is corrupt. */
const MAX_MESSAGE = 16 * 1024 * 1024
const PRELUDE = 12
const TRAILER = 4

interface Codec { readonly codec: EventStreamCodec, readonly toUtf8: (b: Uint8Array) => string }
let loaded: Codec | null = null

/**
 * The AWS SDK's codec, loaded in this thread on first call (lib/cloud/sdk.ts): the Bedrock builder
 * calls it at config time, so a gateway without Bedrock never loads the SDK.
 */
export function loadEventStream (): Codec {
  if (loaded === null) {
    const s = eventStreamSdk()
    loaded = { codec: new s.EventStreamCodec(s.toUtf8, s.fromUtf8), toUtf8: s.toUtf8 }
  }
  return loaded
}

/** Exception types and the Anthropic error each maps to. */
const EXCEPTIONS: Record<string, [string, string]> = {
  throttlingException: ['rate_limit_error', 'upstream rate limit exceeded'],
  serviceUnavailableException: ['overloaded_error', 'upstream overloaded'],
  modelNotReadyException: ['overloaded_error', 'upstream overloaded'],
  validationException: ['invalid_request_error', 'upstream rejected the request'],
  accessDeniedException: ['permission_error', 'upstream denied the request; contact the gateway operator'],
  resourceNotFoundException: ['not_found_error', 'upstream resource not found'],
}

export function sseEvent (type: string, json: string | Buffer): Buffer {
  const head = Buffer.from(`event: ${type}\ndata: `)
  const body = typeof json === 'string' ? Buffer.from(json) : json
  return Buffer.concat([head, body, Buffer.from('\n\n')])
}

/** An upstream's in-stream exception as the Anthropic SSE `error` event (the envelope from lib/errors.ts). */
export function errorEvent (type: string, message: string): Buffer {
  return sseEvent('error', anthropicEnvelope(type, message))
}

const TYPE_PREFIX = Buffer.from('{"type":"')
const BYTES_PREFIX = Buffer.from('{"bytes":"')
const BLANK = Buffer.from('\n\n')
const HEADS = new Map<string, Buffer>()

/** `event: <type>\ndata: `, cached per event type (there are a handful). */
function head (type: string): Buffer {
  let h = HEADS.get(type)
  if (h === undefined) {
    h = Buffer.from(`event: ${type}\ndata: `)
    if (HEADS.size < 64) HEADS.set(type, h)
  }
  return h
}

/**
 * The event JSON a chunk payload (`{"bytes":"<base64>", …}`) carries. Bedrock writes `bytes` first,
 * so the base64 text is sliced out directly; any other layout goes through JSON.parse.
 */
function chunkBytes (payload: Buffer): Buffer {
  if (payload.subarray(0, BYTES_PREFIX.length).equals(BYTES_PREFIX)) {
    const end = payload.indexOf(0x22, BYTES_PREFIX.length)
    if (end > 0) return Buffer.from(payload.toString('latin1', BYTES_PREFIX.length, end), 'base64')
  }
  const v = JSON.parse(payload.toString('utf8')) as { bytes?: unknown }
  if (typeof v.bytes !== 'string') throw new Error('a Bedrock chunk event has no bytes')
  return Buffer.from(v.bytes, 'base64')
}

/** The `type` of an Anthropic event's JSON bytes. */
function eventType (json: Buffer): string {
  if (json.subarray(0, TYPE_PREFIX.length).equals(TYPE_PREFIX)) {
    const end = json.indexOf(0x22, TYPE_PREFIX.length)
    if (end > 0) return json.toString('latin1', TYPE_PREFIX.length, end)
  }
  const v = JSON.parse(json.toString('utf8')) as { type?: unknown }
  if (typeof v.type !== 'string') throw new Error('a Bedrock chunk event has no type')
  return v.type
}

function header (h: Record<string, { type: string, value: unknown }>, name: string): string | undefined {
  const v = h[name]
  return v !== undefined && v.type === 'string' ? v.value as string : undefined
}

export class EventStreamDecoder implements StreamDecoder {
  readonly contentType = SSE_TYPE
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Total length of the message the pending bytes start, once its prelude has arrived (else 0). */
  private need = 0
  private finished = false
  /** A corrupt message found after good ones in the same read: thrown on the next call. */
  private failure: unknown = null
  private readonly sdk = loadEventStream()

  /** `transform` may rewrite an event's JSON (e.g. strip a guardrail trace); identity when absent. */
  constructor (private readonly upstream: string, private readonly transform?: (json: Buffer) => Buffer) {}

  push (chunk: Buffer): Buffer | null {
    if (this.failure !== null) throw this.failure
    if (this.finished) return null
    let buf: Buffer
    if (this.pendingBytes === 0) buf = chunk
    else if (this.need > 0 && this.pendingBytes + chunk.length < this.need) {
      this.pending.push(Buffer.from(chunk)) // still short of a whole message: no concatenation yet
      this.pendingBytes += chunk.length
      return null
    } else {
      this.pending.push(chunk)
      buf = Buffer.concat(this.pending, this.pendingBytes + chunk.length)
      this.pending = []
      this.pendingBytes = 0
    }
    const out: Buffer[] = [] // `event: …\ndata: ` heads, JSON bodies and blank-line tails, joined once
    let at = 0
    try {
      while (!this.finished && buf.length - at >= PRELUDE) {
        const total = buf.readUInt32BE(at)
        if (total < PRELUDE + TRAILER || total > MAX_MESSAGE) throw new Error(`corrupt event stream: a message claims ${total} bytes`)
        if (buf.length - at < total) break
        this.message(buf.subarray(at, at + total), out)
        at += total
      }
    } catch (err) {
      // The events before the bad message are good and the client gets them; the failure is
      // thrown on the next push() or at end(). (One read often carries several messages: how many
      // depends on the runtime and the socket, so which events arrived must not.)
      if (out.length === 0) throw err
      this.failure = err
      this.pending = []
      this.pendingBytes = 0
      this.need = 0
      return Buffer.concat(out)
    }
    this.need = 0
    if (!this.finished && at < buf.length) {
      const rest = Buffer.from(buf.subarray(at)) // a private copy: the socket's buffer is not ours to keep
      this.pending.push(rest)
      this.pendingBytes = rest.length
      if (rest.length >= 4) {
        const n = rest.readUInt32BE(0)
        this.need = n >= PRELUDE + TRAILER && n <= MAX_MESSAGE ? n : 0 // a bad length is refused on the next push
      }
    }
    return out.length === 0 ? null : Buffer.concat(out)
  }

  end (): Buffer | null {
    if (this.failure !== null) throw this.failure
    if (!this.finished && this.pendingBytes > 0) throw new Error(`the event stream ended inside a message (${this.pendingBytes} bytes left over)`)
    return null
  }

  /** Decode one whole message, appending its SSE pieces to `out`. */
  private message (frame: Buffer, out: Buffer[]): void {
    const msg = this.sdk.codec.decode(frame) // checks the prelude and message CRCs
    const h = msg.headers as Record<string, { type: string, value: unknown }>
    const kind = header(h, ':message-type')
    if (kind === 'event') {
      if (header(h, ':event-type') !== 'chunk') return
      let json = chunkBytes(Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength))
      if (json.includes(0x0a) || json.includes(0x0d)) json = Buffer.from(JSON.stringify(JSON.parse(json.toString('utf8'))))
      if (this.transform !== undefined) json = this.transform(json)
      out.push(head(eventType(json)), json, BLANK)
      return
    }
    this.finished = true
    const name = kind === 'exception' ? header(h, ':exception-type') ?? 'exception' : header(h, ':error-code') ?? 'error'
    const text = kind === 'exception' ? this.sdk.toUtf8(msg.body) : header(h, ':error-message') ?? ''
    ops.warn(`bedrock upstream ${this.upstream}: stream ${kind ?? 'message'} ${name}: ${text.slice(0, 2000)}`)
    const [type, message] = EXCEPTIONS[name] ?? ['api_error', 'upstream error']
    out.push(errorEvent(type, message))
  }
}
