/**
 * The answer after failover is exhausted (protocol.md §9.6, differences.md "Errors from
 * upstreams"): a gateway-authored error with no upstream text — the last 429, else 401/403, else
 * 404, else 501, else `502 all upstreams failed (N attempted)` — while a status that does not fail
 * over (400, 413) is still the answer, and a single Anthropic upstream's error is still relayed.
 * The upstream text goes to the operator's log in full.
 */
import t, { type Test } from 'tap'
import { setLogSink } from '../../lib/log.js'
import { finalFailure } from '../../lib/proxy/failover.js'
import type { Upstream } from '../../lib/proxy/upstreams/types.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { startFakeUpstream, type Answer, type FakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const BODY = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] })
const SECRET = 'arn:aws:iam::123456789012:role/acct-secret org_0123456789'

const err = (status: number, type: string, extra = ''): Answer =>
  ({ kind: 'json', status, body: { type: 'error', error: { type, message: `${type} for ${SECRET}${extra}` } }, headers: status === 429 ? { 'retry-after': '17' } : {} })

async function pair (t: Test): Promise<{ url: string, a: FakeUpstream, b: FakeUpstream }> {
  const a = await startFakeUpstream()
  const b = await startFakeUpstream()
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [
        { provider: 'anthropic', name: 'a', base_url: a.url, auth: { api_key: 'sk-a' } },
        { provider: 'anthropic', name: 'b', base_url: b.url, auth: { api_key: 'sk-b' } },
      ]
    },
  })
  return { url, a, b }
}

const post = async (url: string) => await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: BODY })

t.test('every upstream failed: the priority rule, and no upstream text in the answer', async (t) => {
  const { url, a, b } = await pair(t)
  const cases: Array<[string, Answer, Answer, number, string, string]> = [
    ['5xx only', err(500, 'api_error'), err(529, 'overloaded_error'), 502, 'api_error', 'all upstreams failed (2 attempted)'],
    ['429 outranks a later 5xx', err(429, 'rate_limit_error'), err(503, 'api_error'), 429, 'rate_limit_error', 'upstream rate limit exceeded'],
    ['401 outranks 404', err(404, 'not_found_error'), err(401, 'authentication_error'), 401, 'authentication_error', 'upstream authentication failed; contact the gateway operator'],
    ['the last of 401/403', err(401, 'authentication_error'), err(403, 'permission_error'), 403, 'permission_error', 'upstream refused the request; contact the gateway operator'],
    ['404 outranks 501', err(501, 'not_supported'), err(404, 'not_found_error'), 404, 'not_found_error', 'upstream resource not found'],
    ['501 outranks other 5xx', err(501, 'not_supported'), err(500, 'api_error'), 501, 'not_supported', 'upstream does not support this endpoint'],
    ['a network error and a 5xx', { kind: 'destroy' }, err(502, 'api_error'), 502, 'api_error', 'all upstreams failed (2 attempted)'],
  ]
  for (const [label, ansA, ansB, status, type, message] of cases) {
    a.script = () => ansA
    b.script = () => ansB
    const r = await post(url)
    t.equal(r.status, status, `${label}: status`)
    const body = r.json() as { type: string, error: { type: string, message: string }, request_id: string }
    t.same(body.error, { type, message }, `${label}: gateway-authored error`)
    t.notMatch(r.text, /123456789012|acct-secret|org_0123/, `${label}: no upstream text`)
    t.match(body.request_id, /\S/)
    if (status === 429) t.equal(r.headers['retry-after'], '17', `${label}: retry-after kept`)
  }
})

t.test('a status that does not fail over is the answer; one Anthropic upstream is relayed as it answered', async (t) => {
  const { url, a, b } = await pair(t)
  a.script = () => err(500, 'api_error')
  b.script = () => ({ kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 250000 tokens > 200000 maximum' } } })
  const r = await post(url)
  t.equal(r.status, 400)
  t.equal((r.json() as { error: { message: string } }).error.message, 'prompt is too long: 250000 tokens > 200000 maximum', 'the 400 passes through for client recovery')
  b.script = () => ({ kind: 'json', status: 413, body: { type: 'error', error: { type: 'request_too_large', message: 'Request exceeds the maximum size' } } })
  const big = await post(url)
  t.equal(big.status, 413)
  t.equal((big.json() as { error: { message: string } }).error.message, 'Request exceeds the maximum size')

  const solo = await startFakeUpstream(() => err(503, 'overloaded_error', ' (single)'))
  t.teardown(() => solo.close())
  const one = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'anthropic', name: 'solo', base_url: solo.url, auth: { api_key: 'sk-s' } }] } })
  const s = await post(one.url)
  t.equal(s.status, 503)
  t.match((s.json() as { error: { message: string } }).error.message, /\(single\)$/, 'no failover possible: the Anthropic answer is relayed unchanged')
})

t.test('the operator log carries every upstream answer in full', async (t) => {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => setLogSink(undefined))
  const up = (name: string): Upstream => ({ name, provider: 'anthropic', sanitizeErrors: false }) as unknown as Upstream
  const long = `{"type":"error","error":{"type":"api_error","message":"${SECRET} ${'detail '.repeat(600)}end-of-text"}}`
  const r = finalFailure([
    { upstream: up('a'), status: 500, headers: [], body: Buffer.from(long) },
    { upstream: up('b'), error: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) },
  ], 'req_log', 'messages', 3)
  t.equal(r.relay, null)
  t.equal(r.error?.message, 'all upstreams failed (3 attempted)', 'N counts the configured upstreams')
  const log = lines.join('')
  t.match(log, /upstream a answered 500 request_id=req_log/)
  t.ok(log.includes('end-of-text') && log.includes('123456789012'), 'the whole upstream body is logged')
  t.match(log, /upstream b failed request_id=req_log: ECONNREFUSED/)
})

t.test('upstreams that never send headers: the timeout error, not a 502', async (t) => {
  const a = await startFakeUpstream(() => ({ kind: 'hang' }))
  const b = await startFakeUpstream(() => ({ kind: 'hang' }))
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.timeouts = { upstream_ttfb_ms: 300 }
      c.upstreams = [
        { provider: 'anthropic', name: 'a', base_url: a.url, auth: { api_key: 'sk-a' } },
        { provider: 'anthropic', name: 'b', base_url: b.url, auth: { api_key: 'sk-b' } },
      ]
    },
  })
  const r = await post(url)
  t.equal(r.status, 504, 'the documented 5xx for an upstream that did not answer in time')
  t.match(r.headers['content-type'], /^application\/json/)
  const body = r.json() as { type: string, error: { type: string, message: string }, request_id: string }
  t.same({ type: body.type, error: body.error }, { type: 'error', error: { type: 'api_error', message: 'upstream did not answer in time (2 attempted)' } })
  t.equal(body.request_id, r.headers['x-request-id'])
  t.equal(a.requests.length + b.requests.length, 2, 'both were tried')

  // One silent, one refusing the connection: not every failure was a timeout.
  b.script = () => ({ kind: 'destroy' })
  const mixed = await post(url)
  t.equal(mixed.status, 502)
  t.same((mixed.json() as { error: unknown }).error, { type: 'api_error', message: 'all upstreams failed (2 attempted)' })
})
