import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { UsageTap, usageFromJson } from '../../lib/proxy/sse-usage.js'
import { ROOT } from '../../lib/version.js'

const FIXTURE = readFileSync(resolve(ROOT, 'test/fixtures/sse/claude-code-tool-use.sse'))

t.test('usage from a recorded stream, whatever the chunking', async (t) => {
  for (const size of [1, 2, 3, 7, 13, 64, 500, FIXTURE.length]) {
    const tap = new UsageTap()
    for (let i = 0; i < FIXTURE.length; i += size) tap.push(FIXTURE.subarray(i, i + size))
    t.same(tap.usage, {
      input_tokens: 3, output_tokens: 187, cache_creation_input_tokens: 2214, cache_read_input_tokens: 18034,
      cache_creation_5m: 2214, cache_creation_1h: 0, web_search_requests: 0, speed: undefined,
    }, `chunks of ${size}`)
    t.equal(tap.finalOutput, true)
    t.equal(tap.model, 'claude-sonnet-4-5-20250929')
    t.equal(tap.deltas, 12, `content deltas counted (chunks of ${size})`)
    t.equal(tap.bytes, FIXTURE.length)
    t.equal(tap.error, null)
  }
})

t.test('1-hour cache writes, web search, fast mode, CRLF events, error events', async (t) => {
  const tap = new UsageTap()
  tap.push(Buffer.from('event: message_start\r\ndata: {"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"speed":"fast"}}}\r\n\r\n'))
  tap.push(Buffer.from('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":40,"server_tool_use":{"web_search_requests":2}}}\n\n'))
  tap.push(Buffer.from('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'))
  t.equal(tap.usage?.cache_creation_5m, 100)
  t.equal(tap.usage?.cache_creation_1h, 200)
  t.equal(tap.usage?.cache_creation_input_tokens, 300)
  t.equal(tap.usage?.web_search_requests, 2)
  t.equal(tap.usage?.speed, 'fast')
  t.equal(tap.usage?.output_tokens, 40)
  t.same(tap.error, { type: 'overloaded_error', message: 'Overloaded' })
})

t.test('a stream cut short is estimated from what passed', async (t) => {
  const tap = new UsageTap()
  const cut = FIXTURE.subarray(0, Math.floor(FIXTURE.length * 0.7))
  tap.push(cut)
  t.equal(tap.finalOutput, false)
  const est = tap.estimatedOutputTokens()
  t.ok(est >= 8 && est < 600, `estimate ${est}`)
  const empty = new UsageTap()
  t.equal(empty.estimatedOutputTokens(), 0)
})

t.test('non-streaming usage', async (t) => {
  t.same(usageFromJson('{"model":"m","usage":{"input_tokens":5,"output_tokens":6}}')?.usage.output_tokens, 6)
  t.equal(usageFromJson('{"no":"usage"}'), null)
  t.equal(usageFromJson('not json'), null)
})

t.test('CRLF streams split anywhere, id lines, oversized events and UTF-8 text', async (t) => {
  const crlf = Buffer.from(FIXTURE.toString('latin1').replace(/\n/g, '\r\n'), 'latin1')
  for (const size of [1, 2, 5, 33]) {
    const tap = new UsageTap()
    for (let i = 0; i < crlf.length; i += size) tap.push(crlf.subarray(i, i + size))
    t.equal(tap.usage?.output_tokens, 187, `CRLF in chunks of ${size}`)
    t.equal(tap.deltas, 12, `CRLF deltas in chunks of ${size}`)
  }

  // A content delta far larger than the tap keeps is skipped to its end; what follows is still read.
  const big = 'x'.repeat(200 * 1024)
  const stream = Buffer.from(
    'id: 1\nevent: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":7}}}\n\n' +
    `event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"${big}"}}\n\n` +
    'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"café ☕ stopped"}}\n\n' +
    ': keep-alive comment\nevent: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":51}}\n\n')
  for (const size of [1000, 4096, stream.length]) {
    const tap = new UsageTap()
    for (let i = 0; i < stream.length; i += size) tap.push(stream.subarray(i, i + size))
    t.equal(tap.usage?.input_tokens, 7, `message_start after an id line (chunks of ${size})`)
    t.equal(tap.usage?.output_tokens, 51, `message_delta after a comment line (chunks of ${size})`)
    t.equal(tap.deltas, 1, `the oversized delta counted once (chunks of ${size})`)
    t.same(tap.error, { type: 'api_error', message: 'café ☕ stopped' }, `UTF-8 kept exact (chunks of ${size})`)
    t.equal(tap.bytes, stream.length)
  }
})

t.test('data lines read in place and as text agree: several data lines, no space, empty data', async (t) => {
  const stream = Buffer.from(
    'event: message_start\ndata: {"type":"message_start",\ndata: "message":{"model":"mé","usage":{"input_tokens":9}}}\n\n' +
    'event: message_delta\ndata:\n\n' +
    'event: message_delta\ndata:{"type":"message_delta","usage":{"output_tokens":4}}\n\n' +
    'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"ünïcode"}}\nid: 3\n\n')
  // One chunk at an event boundary is read in place; one byte at a time goes through the text path.
  for (const size of [stream.length, 1]) {
    const tap = new UsageTap()
    for (let i = 0; i < stream.length; i += size) tap.push(stream.subarray(i, i + size))
    t.equal(tap.model, 'mé', `data split over two lines is joined (chunks of ${size})`)
    t.equal(tap.usage?.input_tokens, 9)
    t.equal(tap.usage?.output_tokens, 4, `data: without a space (chunks of ${size})`)
    t.equal(tap.finalOutput, true)
    t.same(tap.error, { type: 'api_error', message: 'ünïcode' }, `a data line before another field (chunks of ${size})`)
  }
})
