import t from 'tap'
import { lookupModel, providerModelId } from '../../lib/proxy/catalog.js'
import { ModelRouter } from '../../lib/proxy/routing.js'
import { forwardHeaders, relayable, addBetas, identityHeaderValue } from '../../lib/proxy/headers.js'
import { sanitisedBody, isFailoverStatus } from '../../lib/proxy/failover.js'

t.test('catalog recognises every provider spelling', async (t) => {
  for (const s of ['claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'CLAUDE-HAIKU-4-5', 'us.anthropic.claude-haiku-4-5-20251001-v1:0', 'eu.anthropic.claude-haiku-4-5-20251001-v1:0', 'anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5@20251001', 'claude-haiku-4-5[1m]', 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0']) {
    t.equal(lookupModel(s)?.key, 'haiku45', s)
  }
  t.equal(lookupModel('gpt-4o'), null)
  const opus = lookupModel('claude-opus-4-6')
  t.ok(opus !== null && providerModelId(opus, 'bedrock') === 'us.anthropic.claude-opus-4-6-v1')
  t.ok(opus !== null && providerModelId(opus, 'anthropic') === 'claude-opus-4-6')
})

t.test('routing: models[] rows, built-ins, skips with reasons', async (t) => {
  const r = new ModelRouter(
    [{ id: 'claude-opus-4-8', label: 'Opus', upstream_model: { br: 'arn:aws:bedrock:us-east-1:111111111111:provisioned-model/abc' } },
      { id: 'corp-model', upstream_model: { fd: 'corp-deployment' } }],
    true,
    [{ name: 'br', provider: 'bedrock' }, { name: 'fd', provider: 'foundry' }, { name: 'an', provider: 'anthropic' }],
  )
  const opus = r.resolve('claude-opus-4-8')
  t.same(opus.candidates, [
    { upstream: 0, model: 'arn:aws:bedrock:us-east-1:111111111111:provisioned-model/abc', rewrite: true },
    { upstream: 1, model: 'claude-opus-4-8', rewrite: false },
    { upstream: 2, model: 'claude-opus-4-8', rewrite: false },
  ])
  const custom = r.resolve('corp-model')
  t.same(custom.candidates, [{ upstream: 1, model: 'corp-deployment', rewrite: true }])
  t.equal(custom.reasons.length, 2)
  const dated = r.resolve('claude-haiku-4-5')
  t.same(dated.candidates.map((c) => c.model), ['us.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5', 'claude-haiku-4-5'], 'the client spelling is kept for first-party upstreams')
  const old = r.resolve('claude-3-5-haiku-20241022')
  t.match(old.reasons.join(';'), /not available on foundry/)
  t.equal(r.resolve('nope').candidates.length, 0)
  t.equal(r.resolve('claude-opus-4-8'), opus, 'cached')

  const strict = new ModelRouter([{ id: 'claude-sonnet-4-6', upstream_model: { an: 'claude-sonnet-4-6' } }], false, [{ name: 'an', provider: 'anthropic' }])
  t.equal(strict.resolve('claude-haiku-4-5').candidates.length, 0, 'without auto_include only models[] rows route')
  t.same(strict.list().map((m) => m.id), ['claude-sonnet-4-6'])
  const listed = r.list()
  t.equal(listed[0]?.id, 'claude-opus-4-8')
  t.equal(listed[0]?.display_name, 'Opus')
  t.ok(listed.some((m) => m.id === 'claude-haiku-4-5-20251001'))
  t.notOk(listed.some((m) => m.id === 'claude-3-5-haiku-20241022'), 'legacy models are routable but not advertised')
})

t.test('headers in both directions', async (t) => {
  const out = forwardHeaders({ authorization: 'Bearer x', 'x-api-key': 'k', 'anthropic-beta': 'a,b', 'x-stainless-os': 'Linux', cookie: 'c', 'user-agent': 'cli/1', 'x-app': 'cli' })
  t.same(Object.keys(out).sort(), ['accept-encoding', 'anthropic-beta', 'content-type', 'user-agent', 'x-stainless-os'])
  t.notOk(relayable('anthropic-ratelimit-requests-limit'))
  t.notOk(relayable('content-length'))
  t.notOk(relayable('transfer-encoding'))
  t.ok(relayable('content-type'))
  t.ok(relayable('retry-after'))
  t.equal(addBetas('a, b', ['b', 'c']), 'a,b,c')
  t.equal(addBetas(undefined, ['c']), 'c')
  t.equal(identityHeaderValue(' ann%é\tx '), 'ann%25%C3%A9%09x')
})

t.test('failover statuses and cloud error sanitising', async (t) => {
  for (const s of [500, 502, 503, 529, 429, 401, 403, 404, 501]) t.ok(isFailoverStatus(s), String(s))
  for (const s of [200, 400, 402, 413, 422]) t.notOk(isFailoverStatus(s), String(s))
  const leak = Buffer.from(JSON.stringify({ message: 'User: arn:aws:iam::123456789012:role/x is not authorized' }))
  t.notMatch(sanitisedBody(403, leak, 'r').toString(), /123456789012/)
  t.same(JSON.parse(sanitisedBody(400, Buffer.from('{"message":"Input is too long."}'), 'r').toString()).error, { type: 'invalid_request_error', message: 'Input is too long.' })
  t.same(JSON.parse(sanitisedBody(400, Buffer.from('{"message":"Input is too long for requested model."}'), 'r').toString()).error, { type: 'invalid_request_error', message: 'capability_rejected: prompt_too_long' })
  t.equal(JSON.parse(sanitisedBody(400, Buffer.from('{"error":{"message":"The request size (30037042 bytes) exceeds 30.000MB limit."}}'), 'r').toString()).error.message, 'Input is too long.')
  t.equal(JSON.parse(sanitisedBody(400, Buffer.from('{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 5 > 4"}}'), 'r').toString()).error.message, 'prompt is too long: 5 > 4')
  t.equal(JSON.parse(sanitisedBody(529, undefined, 'r').toString()).error.type, 'overloaded_error')
  t.equal(JSON.parse(sanitisedBody(418, undefined, 'r').toString()).error.type, 'api_error')
})
