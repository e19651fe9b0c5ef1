/**
 * The streamed reply both transcoder benchmarks use: a message of `events` text deltas as
 * Anthropic SSE, and the same events as Bedrock's AWS event stream (each event's JSON base64'd in a
 * `chunk` message with a `p` padding field, CRCs by the AWS SDK's codec), as Bedrock sends it.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { fromUtf8, toUtf8 } from '@smithy/util-utf8'

const codec = new EventStreamCodec(toUtf8, fromUtf8)
const str = (value: string): { type: 'string', value: string } => ({ type: 'string', value })

export function events (n: number): Array<{ type: string, json: string }> {
  const e = (type: string, v: unknown): { type: string, json: string } => ({ type, json: JSON.stringify(v) })
  const out = [
    e('message_start', { type: 'message_start', message: { id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 30000, output_tokens: 1 } } }),
    e('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ]
  for (let i = 0; i < n; i++) out.push(e('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `token ${i} of a benchmark reply ` } }))
  out.push(e('content_block_stop', { type: 'content_block_stop', index: 0 }))
  out.push(e('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: n * 6 } }))
  out.push(e('message_stop', { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 1200, outputTokenCount: n * 6, invocationLatency: 900, firstByteLatency: 300 } }))
  return out
}

export function chunkMessage (json: string): Buffer {
  const body = fromUtf8(JSON.stringify({ bytes: Buffer.from(json).toString('base64'), p: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'.slice(0, (json.length % 30) + 1) }))
  return Buffer.from(codec.encode({ headers: { ':event-type': str('chunk'), ':content-type': str('application/json'), ':message-type': str('event') }, body }))
}

export function streamBytes (n: number): { sse: Buffer, eventstream: Buffer, events: number } {
  const evs = events(n)
  return {
    sse: Buffer.from(evs.map((e) => `event: ${e.type}\ndata: ${e.json}\n\n`).join('')),
    eventstream: Buffer.concat(evs.map((e) => chunkMessage(e.json))),
    events: evs.length,
  }
}
