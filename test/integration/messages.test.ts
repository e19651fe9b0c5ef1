/**
 * The hot path over real sockets: a real gateway (worker threads, Postgres, IdP) in front of a fake
 * Anthropic API on its own socket.
 */
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { resolve } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { startFakeUpstream, simpleStream, sse, type FakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { raw, req } from '../helpers/http.js'
import { withRuntimeEnv } from '../helpers/runtime-env.js'

const FIXTURE = readFileSync(resolve(ROOT, 'test/fixtures/sse/claude-code-tool-use.sse'))
const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const AUTH = { authorization: `Bearer ${bearer}` }
const BODY = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'hi' }] })

function anthropic (fake: FakeUpstream, name = 'primary', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { provider: 'anthropic', name, base_url: fake.url, auth: { api_key: `sk-${name}` }, ...extra }
}

async function gatewayFor (t: Test, upstreams: Array<Record<string, unknown>>, more?: (c: Record<string, any>) => void) { // eslint-disable-line @typescript-eslint/no-explicit-any
  return await startTestGateway(t, { config: (c) => { c.upstreams = upstreams; more?.(c) } })
}

function post (url: string, body: string | Buffer = BODY, headers: Record<string, string> = {}) {
  return req(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body })
}

t.test('a recorded Claude Code stream passes through byte for byte, split at odd offsets', async (t) => {
  const fake = await startFakeUpstream()
  t.teardown(() => fake.close())
  const frames: Buffer[] = []
  for (let i = 0; i < FIXTURE.length; i += 37) frames.push(FIXTURE.subarray(i, i + 37))
  fake.script = () => ({ kind: 'sse', frames, delayMs: 1 })
  const { url } = await gatewayFor(t, [anthropic(fake)])
  const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 4096, stream: true, unknown_future_field: { keep: [1, 2, 3] }, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [{ role: 'user', content: 'fix the test' }] })
  const r = await post(url, body, { 'anthropic-beta': 'interleaved-thinking-2025-05-14,some-future-beta', 'x-stainless-lang': 'js', 'x-app': 'cli', 'user-agent': 'claude-cli/2.1.328' })
  t.equal(r.status, 200)
  t.equal(r.text, FIXTURE.toString('utf8'), 'identical bytes')
  t.match(r.headers['content-type'], /text\/event-stream/)
  const got = fake.requests[0]
  t.ok(got !== undefined)
  t.same(got?.body, Buffer.from(body), 'request body forwarded unchanged, unknown fields included')
  t.equal(got?.url, '/v1/messages')
  t.equal(got?.headers['x-api-key'], 'sk-primary', 'the upstream credential is applied')
  t.equal(got?.headers.authorization, undefined, "the client's bearer is not forwarded")
  t.equal(got?.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14,some-future-beta')
  t.equal(got?.headers['anthropic-version'], '2023-06-01')
  t.equal(got?.headers['x-stainless-lang'], 'js')
  t.equal(got?.headers['x-app'], undefined)
  t.match(got?.headers['user-agent'], /^claude-cli\/2\.1\.328 weir\//)
  t.equal(got?.headers['accept-encoding'], 'identity')
})

t.test('query string is kept; upstream rate-limit and hop-by-hop headers are stripped', async (t) => {
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream(), headers: { 'anthropic-ratelimit-tokens-remaining': '5', 'anthropic-organization-id': 'org-1', 'x-custom': 'kept' } }))
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)])
  const r = await req(`${url}/v1/messages?beta=true`, { method: 'POST', headers: AUTH, body: BODY })
  t.equal(r.status, 200)
  t.equal(fake.requests[0]?.url, '/v1/messages?beta=true')
  t.equal(r.headers['anthropic-ratelimit-tokens-remaining'], undefined)
  t.equal(r.headers['x-custom'], 'kept')
  t.equal(r.headers['request-id'], undefined, 'upstream request id is audited, not relayed')
  t.match(r.headers['x-request-id'], /\S/)
})

t.test('the first byte reaches the client before the upstream finished', async (t) => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream(), gate, gateAfter: 1 }))
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)])
  const r = await request(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: BODY })
  t.equal(r.statusCode, 200)
  const it = r.body[Symbol.asyncIterator]()
  const first = await it.next()
  t.match(String(first.value), /event: message_start/, 'message_start arrived while the upstream is held')
  open()
  let rest = ''
  for (let n = await it.next(); n.done !== true; n = await it.next()) rest += String(n.value)
  t.match(rest, /message_stop/)
})

t.test('backpressure: a stalled client pauses the upstream; nothing is lost when it reads again', async (t) => {
  const chunk = Buffer.from(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(8000) } }))
  const total = 64 * 1024 * 1024
  const fake = await startFakeUpstream(() => ({ kind: 'flood', chunk, totalBytes: total }))
  t.teardown(() => fake.close())
  const { gw } = await gatewayFor(t, [anthropic(fake)])
  const sock = connect(gw.port, '127.0.0.1')
  sock.pause()
  sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`)
  // Wait until the upstream stops making progress.
  let last = -1
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const w = fake.requests[0]?.written ?? 0
    if (w > 0 && w === last) break
    last = w
  }
  const stalledAt = fake.requests[0]?.written ?? 0
  t.ok(stalledAt > 0, 'the upstream started')
  t.ok(stalledAt < 24 * 1024 * 1024, `upstream held back at ${stalledAt} bytes of ${total} (client not reading)`)
  let received = 0
  sock.on('data', (d: Buffer) => { received += d.length })
  sock.resume()
  await fake.requests[0]?.closed
  await new Promise<void>((resolve) => {
    const check = (): void => { if (received >= total) resolve(); else setTimeout(check, 50) }
    check()
  })
  t.ok(received >= total, 'every byte arrived after the client resumed')
  sock.destroy()
})

t.test('a client abort cancels the upstream request at once', async (t) => {
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream(), delayMs: 500 }))
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)])
  const ac = new AbortController()
  const r = await request(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: BODY, signal: ac.signal })
  const it = r.body[Symbol.asyncIterator]()
  await it.next()
  const t0 = Date.now()
  ac.abort()
  t.equal(await fake.requests[0]?.closed, 'aborted', 'the upstream saw the connection close')
  t.ok(Date.now() - t0 < 2000, 'promptly')
})

t.test('failover before the first byte, never after', async (t) => {
  const a = await startFakeUpstream()
  const b = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('from b') }))
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const { url } = await gatewayFor(t, [anthropic(a, 'a'), anthropic(b, 'b')], (c) => { c.timeouts = { upstream_ttfb_ms: 1000 } })

  for (const [label, ans] of [
    ['529', { kind: 'json', status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'busy' } } }],
    ['500', { kind: 'json', status: 500, body: { type: 'error', error: { type: 'api_error', message: 'boom' } } }],
    ['429', { kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow' } } }],
    ['401', { kind: 'json', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'bad key' } } }],
    ['connection reset', { kind: 'destroy' }],
    ['header timeout', { kind: 'hang' }],
  ] as const) {
    a.script = () => ans as never
    const r = await post(url)
    t.equal(r.status, 200, `${label}: served by b`)
    t.match(r.text, /from b/, label)
  }

  // A 400 is an answer, not a reason to fail over; it is relayed unchanged.
  a.script = () => ({ kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 250000 tokens > 200000 maximum' } } })
  const before = b.requests.length
  const bad = await post(url)
  t.equal(bad.status, 400)
  t.equal(bad.json().error.message, 'prompt is too long: 250000 tokens > 200000 maximum', 'Anthropic error text relayed for client recovery')
  t.equal(b.requests.length, before, 'no failover on 400')

  // After the first byte: no failover; the stream ends with an error event.
  a.script = () => ({ kind: 'sse', frames: simpleStream().slice(0, 2), thenDestroy: true })
  const mid = await post(url)
  t.equal(mid.status, 200)
  t.match(mid.text, /event: message_start/)
  t.match(mid.text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/)
  t.equal(b.requests.length, before, 'b was not tried after bytes reached the client')
})

t.test('when every upstream fails: the best answer, or a gateway-authored 502', async (t) => {
  const a = await startFakeUpstream(() => ({ kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'org quota' } }, headers: { 'retry-after': '7' } }))
  const b = await startFakeUpstream(() => ({ kind: 'json', status: 503, body: { type: 'error', error: { type: 'api_error', message: 'secret internal detail' } } }))
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const { url } = await gatewayFor(t, [anthropic(a, 'a'), anthropic(b, 'b')])
  const r = await post(url)
  t.equal(r.status, 429, 'the 429 outranks the 503')
  t.equal(r.headers['retry-after'], '7')
  a.script = () => ({ kind: 'destroy' })
  b.script = () => ({ kind: 'destroy' })
  const none = await post(url)
  t.equal(none.status, 502)
  t.same(none.json().error, { type: 'api_error', message: 'all upstreams failed (2 attempted)' })
  t.notMatch(none.text, /secret/)
})

t.test('request errors: 401, 411, 413, 400 envelopes; model routing', async (t) => {
  const fake = await startFakeUpstream()
  t.teardown(() => fake.close())
  const { url, gw } = await gatewayFor(t, [anthropic(fake, 'primary', {})], (c) => {
    c.limits = { max_request_bytes: 4096 }
  })
  const noAuth = await req(`${url}/v1/messages`, { method: 'POST', body: BODY })
  t.equal(noAuth.status, 401)
  t.equal(noAuth.headers['x-should-retry'], 'false')
  t.equal(noAuth.json().error.type, 'authentication_error')
  const badAuth = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: BODY })
  t.equal(badAuth.status, 401)
  const expired = mintToken(keyRing([TEST_SECRET]), { sub: 'u' }, { ttlHours: 1, now: Date.now() - 7200_000 }).token
  const exp = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${expired}` }, body: BODY })
  t.equal(exp.status, 401)
  t.equal(exp.headers['x-should-retry'], 'false')

  const big = await post(url, JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }))
  t.equal(big.status, 413)
  t.equal(big.json().error.type, 'request_too_large')
  const chunked = await raw(gw.port, `POST /v1/messages HTTP/1.1\nHost: x\nAuthorization: Bearer ${bearer}\nTransfer-Encoding: chunked`, '2\r\n{}\r\n0\r\n\r\n')
  t.equal(chunked.status, 411)

  const notJson = await post(url, '{"model": "claude-sonnet-4-5", ')
  t.equal(notJson.status, 400)
  t.equal(notJson.json().error.type, 'invalid_request_error')
  const noModel = await post(url, '{"messages":[]}')
  t.equal(noModel.json().error.message, 'model is required')
  const numModel = await post(url, '{"model": 4}')
  t.equal(numModel.json().error.message, 'model must be a string')
  const dup = await post(url, '{"model":"claude-haiku-4-5","model":"claude-opus-4-8"}')
  t.equal(dup.status, 400, 'a duplicated model field is refused (allowlist bypass)')
  const unknown = await post(url, '{"model":"gpt-9","messages":[]}')
  t.equal(unknown.status, 400)
  t.match(unknown.json().error.message, /gpt-9/)
  t.equal(fake.requests.length, 0, 'none of these reached the upstream')
})

t.test('models[] rows rewrite the model id for their upstream; count_tokens is proxied', async (t) => {
  const fake = await startFakeUpstream((r) => r.url.startsWith('/v1/messages/count_tokens')
    ? { kind: 'json', status: 200, body: { input_tokens: 42 } }
    : { kind: 'sse', frames: simpleStream() })
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)], (c) => {
    c.models = [{ id: 'team-default', label: 'Team default', upstream_model: { primary: 'claude-opus-4-8' } }]
  })
  const r = await post(url, JSON.stringify({ model: 'team-default', stream: true, messages: [{ role: 'user', content: 'é' }], max_tokens: 5 }))
  t.equal(r.status, 200)
  const sent = JSON.parse(fake.requests[0]?.body.toString('utf8') ?? '{}')
  t.equal(sent.model, 'claude-opus-4-8')
  t.same(sent.messages, [{ role: 'user', content: 'é' }])
  const ct = await req(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: AUTH, body: '{"model":"claude-haiku-4-5","messages":[]}' })
  t.equal(ct.status, 200)
  t.same(ct.json(), { input_tokens: 42 })
  t.equal(fake.requests[1]?.url, '/v1/messages/count_tokens')
})

t.test('an Anthropic stream gets no gateway pings: its own are relayed as they come', async (t) => {
  withRuntimeEnv(t, { WEIR_SSE_PING_MS: '300' })
  const frames = simpleStream()
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames, delayMs: 0, gate: new Promise((resolve) => setTimeout(resolve, 1500)), gateAfter: 2 }))
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)])
  const r = await post(url)
  t.equal(r.status, 200)
  t.equal(r.text, frames.join(''), 'the silence passed with no gateway ping, and nothing else changed')
})

t.test('silent streams from an upstream that needs pings get them at event boundaries', async (t) => {
  withRuntimeEnv(t, { WEIR_SSE_PING_MS: '300' })
  const { url } = await gatewayFor(t, [{ provider: 'mock', name: 'm', delay_ms: 700, events: 1 }])
  const r = await post(url)
  t.equal(r.status, 200)
  t.match(r.text, /event: ping\ndata: \{"type": "ping"\}\n\n/, 'a ping arrived during the silence')
  t.match(r.text, /message_stop/)
})

t.test('upstreams[].groups, .models and .headers steer and decorate requests', async (t) => {
  const reserved = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('reserved') }))
  const general = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('general') }))
  t.teardown(() => reserved.close())
  t.teardown(() => general.close())
  const { url } = await gatewayFor(t, [
    anthropic(reserved, 'reserved', { groups: ['contractors'], models: ['claude-haiku-4-5'], headers: { 'x-team': 'core' } }),
    anthropic(general, 'general', { groups: ['eng'] }),
  ])
  const contractor = mintToken(keyRing([TEST_SECRET]), { sub: 'u-bob', groups: ['contractors'] }, { ttlHours: 1 }).token
  const haiku = JSON.stringify({ model: 'claude-haiku-4-5-20251001', stream: true, max_tokens: 5, messages: [] })
  const r1 = await post(url, haiku, { authorization: `Bearer ${contractor}` })
  t.match(r1.text, /reserved/, 'a contractor asking for haiku (any spelling) goes to the reserved upstream')
  t.equal(reserved.requests[0]?.headers['x-team'], 'core', 'with its extra header')
  const r2 = await post(url, haiku)
  t.match(r2.text, /general/, 'an eng member never reaches the reserved upstream')
  const r3 = await post(url, BODY, { authorization: `Bearer ${contractor}` })
  t.equal(r3.status, 400, 'contractors have no upstream for sonnet')
  t.match(r3.json().error.message, /not available to your groups/)
  t.equal(general.requests.every((r) => r.headers['x-team'] === undefined), true)
})

t.test('the managed policy allow-list is enforced on /v1/messages and count_tokens', async (t) => {
  const fake = await startFakeUpstream((r) => r.url.startsWith('/v1/messages/count_tokens') ? { kind: 'json', status: 200, body: { input_tokens: 3 } } : { kind: 'sse', frames: simpleStream() })
  t.teardown(() => fake.close())
  const { url } = await gatewayFor(t, [anthropic(fake)], (c) => {
    c.managed = { policies: [{ match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'] } }, { match: {}, cli: {} }] }
  })
  const contractor = mintToken(keyRing([TEST_SECRET]), { sub: 'u-bob', groups: ['contractors'] }, { ttlHours: 1 }).token
  const as = { authorization: `Bearer ${contractor}` }
  const opus = JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, stream: true, messages: [] })
  const denied = await post(url, opus, as)
  t.equal(denied.status, 400)
  t.equal(denied.json().error.type, 'invalid_request_error')
  t.match(denied.json().error.message, /claude-opus-4-8/)
  const deniedCount = await req(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: as, body: opus })
  t.equal(deniedCount.status, 400)
  t.equal(fake.requests.length, 0, 'denied requests never reach the upstream')
  const haiku = await post(url, JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 5, stream: true, messages: [] }), as)
  t.equal(haiku.status, 200)
  const alice = await post(url, opus)
  t.equal(alice.status, 200, 'the catch-all policy sets no allow-list')
})
