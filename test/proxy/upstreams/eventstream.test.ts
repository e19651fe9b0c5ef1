/**
 * The Bedrock event-stream → Anthropic SSE transcoder, fed real event-stream messages (encoded
 * with the AWS SDK's codec): byte-exact event JSON, messages split at every possible byte, CRC and
 * length corruption, exception messages, truncation.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { EventStreamDecoder } from '../../../lib/proxy/upstreams/eventstream.js'
import { ROOT } from '../../../lib/version.js'
import { bedrockFrames, chunkFrame, eventsOf, exceptionFrame, replyEvents, resplit, sseOf } from './fakes.js'

const FIXTURE = readFileSync(resolve(ROOT, 'test/fixtures/sse/claude-code-tool-use.sse'), 'utf8')

function run (chunks: Buffer[]): string {
  const d = new EventStreamDecoder('test')
  const out: Buffer[] = []
  for (const c of chunks) { const o = d.push(c); if (o !== null) out.push(o) }
  const tail = d.end()
  if (tail !== null) out.push(tail)
  return Buffer.concat(out).toString('utf8')
}

t.test('a recorded Claude Code stream comes out byte for byte (pings aside: Bedrock sends none)', async (t) => {
  const events = eventsOf(FIXTURE)
  t.ok(events.length > 10)
  const frames = bedrockFrames(events)
  t.equal(run(frames), sseOf(events), 'whole messages, one per read')
  t.equal(run([Buffer.concat(frames)]), sseOf(events), 'all messages in one read')
  t.equal(run(resplit(frames, 1)), sseOf(events), 'one byte per read')
  t.equal(run(resplit(frames, 7)), sseOf(events), 'seven bytes per read')
  const cuts: number[] = []
  let seed = 7
  const total = Buffer.concat(frames).length
  for (let at = 0; at < total;) { seed = (seed * 1103515245 + 12345) % 2147483648; at += 1 + (seed % 300); cuts.push(at) }
  t.equal(run(resplit(frames, cuts.filter((c) => c < total))), sseOf(events), 'random split points')
})

t.test('every split point of a two-message stream', async (t) => {
  const events = replyEvents().slice(0, 2)
  const all = Buffer.concat(bedrockFrames(events))
  let ok = 0
  for (let a = 1; a < all.length; a++) {
    if (run([all.subarray(0, a), all.subarray(a)]) === sseOf(events)) ok++
  }
  t.equal(ok, all.length - 1)
})

t.test('a corrupted message is refused, never passed on', async (t) => {
  const frames = bedrockFrames(replyEvents())
  const bodyFlip = Buffer.from(frames[2] as Buffer)
  bodyFlip[bodyFlip.length - 10] = (bodyFlip[bodyFlip.length - 10] as number) ^ 0x01
  const d = new EventStreamDecoder('test')
  t.ok((d.push(frames[0] as Buffer)?.length ?? 0) > 0)
  t.throws(() => d.push(bodyFlip), /checksum/i, 'message CRC')

  const preludeFlip = Buffer.from(frames[0] as Buffer)
  preludeFlip[6] = (preludeFlip[6] as number) ^ 0x10
  t.throws(() => new EventStreamDecoder('test').push(preludeFlip), /checksum|CRC/i, 'prelude CRC')

  const huge = Buffer.from(frames[0] as Buffer)
  huge.writeUInt32BE(0x7fffffff, 0)
  t.throws(() => new EventStreamDecoder('test').push(huge), /claims/, 'impossible length')
  const tiny = Buffer.from(frames[0] as Buffer)
  tiny.writeUInt32BE(3, 0)
  t.throws(() => new EventStreamDecoder('test').push(tiny), /claims/)
})

t.test('good messages in the same read as a corrupt one are passed on, then the error', async (t) => {
  const events = replyEvents()
  const frames = bedrockFrames(events)
  const bad = Buffer.from(frames[3] as Buffer)
  bad[bad.length - 8] = (bad[bad.length - 8] as number) ^ 0xff
  const d = new EventStreamDecoder('test')
  const out = d.push(Buffer.concat([frames[0] as Buffer, frames[1] as Buffer, frames[2] as Buffer, bad]))
  t.equal(out?.toString('utf8'), sseOf(events.slice(0, 3)), 'the three good events, byte for byte')
  t.throws(() => d.end(), /checksum/i, 'the corruption is reported at the end')

  const more = new EventStreamDecoder('test')
  more.push(Buffer.concat([frames[0] as Buffer, bad]))
  t.throws(() => more.push(frames[4] as Buffer), /checksum/i, 'or by the next read')

  const huge = Buffer.from(frames[1] as Buffer)
  huge.writeUInt32BE(0x7fffffff, 0)
  const len = new EventStreamDecoder('test')
  t.equal(len.push(Buffer.concat([frames[0] as Buffer, huge]))?.toString('utf8'), sseOf(events.slice(0, 1)))
  t.throws(() => len.end(), /claims/, 'an impossible length after a good message')
})

t.test('a stream cut inside a message is an error at the end', async (t) => {
  const all = Buffer.concat(bedrockFrames(replyEvents()))
  const d = new EventStreamDecoder('test')
  d.push(all.subarray(0, all.length - 5))
  t.throws(() => d.end(), /ended inside a message/)
  const whole = new EventStreamDecoder('test')
  whole.push(all)
  t.equal(whole.end(), null)
})

t.test('exception messages become an Anthropic error event and end the stream', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['throttlingException', 'rate_limit_error', 'upstream rate limit exceeded'],
    ['modelStreamErrorException', 'api_error', 'upstream error'],
    ['validationException', 'invalid_request_error', 'upstream rejected the request'],
    ['serviceUnavailableException', 'overloaded_error', 'upstream overloaded'],
    ['internalServerException', 'api_error', 'upstream error'],
  ]
  for (const [name, type, message] of cases) {
    const frames = [...bedrockFrames(replyEvents().slice(0, 3)), exceptionFrame(name, 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/x failed'), chunkFrame('{"type":"message_stop"}')]
    const out = run(frames)
    const evs = eventsOf(out)
    t.same(evs.map((e) => e.type), ['message_start', 'content_block_start', 'content_block_delta', 'error'], name)
    t.same(JSON.parse(evs[3]?.json ?? '{}'), { type: 'error', error: { type, message } })
    t.notMatch(out, /123456789012/, 'AWS text is not relayed')
  }
})

t.test('other event types are skipped; odd JSON layouts still work', async (t) => {
  const { EventStreamCodec } = await import('@smithy/eventstream-codec')
  const { fromUtf8, toUtf8 } = await import('@smithy/util-utf8')
  const codec = new EventStreamCodec(toUtf8, fromUtf8)
  const other = Buffer.from(codec.encode({ headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: 'initial-response' } }, body: fromUtf8('{}') }))
  const spaced = chunkFrame('{ "type" : "ping" }')
  const pretty = chunkFrame('{\n  "type": "message_stop"\n}')
  const out = run([other, spaced, pretty])
  t.equal(out, 'event: ping\ndata: { "type" : "ping" }\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n')
  t.throws(() => run([chunkFrame('{"no":"type"}')]), /no type/)
})

t.test('a transform sees every event (guardrail traces are stripped from the stream)', async (t) => {
  const { stripTrace } = await import('../../../lib/proxy/upstreams/guardrail.js')
  const logged: string[] = []
  const d = new EventStreamDecoder('test', (j) => stripTrace(j, (l) => { logged.push(l) }))
  const stop = JSON.stringify({ type: 'message_stop', 'amazon-bedrock-guardrailAction': 'NONE', 'amazon-bedrock-trace': { guardrail: { outputs: [] } } })
  const out = d.push(Buffer.concat([chunkFrame('{"type":"ping"}'), chunkFrame(stop)]))?.toString()
  t.equal(out, 'event: ping\ndata: {"type":"ping"}\n\nevent: message_stop\ndata: {"type":"message_stop","amazon-bedrock-guardrailAction":"NONE"}\n\n')
  t.equal(logged.length, 1)
})
