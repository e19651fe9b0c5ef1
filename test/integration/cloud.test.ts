/**
 * Cloud upstreams end to end: a real gateway (worker threads, Postgres, IdP) in front of fakes
 * that speak each provider's wire format on real sockets — Bedrock's SigV4 and AWS event stream
 * (split across TCP writes, corrupted, failing with an exception), Vertex's rawPredict URLs and
 * bearer, Foundry, Claude Platform on AWS and on Google Cloud, Bedrock Mantle, and an Anthropic
 * upstream using workload identity federation; failover from Anthropic to Bedrock; error bodies
 * that never name the cloud account; pings during a silent Bedrock stream.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { simpleStream, startFakeUpstream, type Answer, type FakeUpstream, type Recorded } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { withRuntimeEnv } from '../helpers/runtime-env.js'
import { AKID, bedrockScript, eventsOf, replyEvents, SECRET, sendJson, sseOf, tinyServer, verifySigV4 } from '../proxy/upstreams/fakes.js'

const FIXTURE = readFileSync(resolve(ROOT, 'test/fixtures/sse/claude-code-tool-use.sse'), 'utf8')
const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const AUTH = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const KEYS = { aws_access_key_id: AKID, aws_secret_access_key: SECRET }
const body = (model: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra })
const post = async (url: string, b: string, headers: Record<string, string> = {}, path = '/v1/messages') => await req(`${url}${path}`, { method: 'POST', headers: { ...AUTH, ...headers }, body: b })
const bedrockUp = (fake: FakeUpstream, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ provider: 'bedrock', name: 'bedrock', region: 'us-east-1', base_url: fake.url, auth: KEYS, ...extra })

t.test('bedrock', async (t) => {
  const fake = await startFakeUpstream(bedrockScript({ events: eventsOf(FIXTURE), split: 13 }))
  t.teardown(() => fake.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [bedrockUp(fake)] } })

  t.test('a recorded Claude Code stream, re-framed from event-stream messages split across writes, arrives byte for byte', async (t) => {
    const r = await post(url, body('claude-sonnet-4-5-20250929', { tags: { team: 'a' }, thinking: { type: 'enabled', budget_tokens: 2000 } }), { 'anthropic-beta': 'interleaved-thinking-2025-05-14,request-tags-2026-08-21', 'x-stainless-lang': 'js' })
    t.equal(r.status, 200)
    t.match(r.headers['content-type'], /^text\/event-stream/)
    t.equal(r.text, sseOf(eventsOf(FIXTURE)), 'identical event JSON (the fixture minus its pings)')
    t.equal(r.headers['x-amzn-requestid'], undefined, 'AWS headers are not relayed')
    const got = fake.requests.at(-1) as Recorded
    t.equal(got.url, '/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream')
    t.equal(verifySigV4(got, { region: 'us-east-1', service: 'bedrock' }), null, 'SigV4 verified by the fake')
    const sent = JSON.parse(got.body.toString())
    t.same(Object.keys(sent).sort(), ['anthropic_beta', 'anthropic_version', 'max_tokens', 'messages', 'thinking'])
    t.same(sent.anthropic_beta, ['interleaved-thinking-2025-05-14'])
    t.equal(got.headers['anthropic-beta'], undefined)
    t.equal(got.headers['x-stainless-lang'], 'js')
  })

  t.test('non-streaming replies pass through as JSON', async (t) => {
    const r = await post(url, body('claude-haiku-4-5', { stream: false }))
    t.equal(r.status, 200)
    t.equal(r.json().content[0].text, 'json from bedrock')
    t.equal(fake.requests.at(-1)?.url, '/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke')
  })

  t.test('a corrupted message ends the stream with an error event; the gateway carries on', async (t) => {
    fake.script = bedrockScript({ corrupt: 3, split: 5 })
    const r = await post(url, body('claude-haiku-4-5'))
    t.equal(r.status, 200)
    const evs = eventsOf(r.text)
    t.same(evs.map((e) => e.type), ['message_start', 'content_block_start', 'content_block_delta', 'error'])
    t.equal(JSON.parse(evs[3]?.json ?? '{}').error.type, 'api_error')
    fake.script = bedrockScript()
    const again = await post(url, body('claude-haiku-4-5'))
    t.equal(again.text, sseOf(replyEvents()), 'the next request is fine')
  })

  t.test('an exception message becomes an Anthropic error event without AWS text', async (t) => {
    fake.script = bedrockScript({ exception: { at: 2, type: 'throttlingException' } })
    const r = await post(url, body('claude-haiku-4-5'))
    const evs = eventsOf(r.text)
    t.same(evs.map((e) => e.type), ['message_start', 'content_block_start', 'error'])
    t.same(JSON.parse(evs[2]?.json ?? '{}').error, { type: 'rate_limit_error', message: 'upstream rate limit exceeded' })
    t.notMatch(r.text, /123456789012/)
  })

  t.test('count_tokens through CountTokens; a failure is a 501 the client does not retry', async (t) => {
    fake.script = bedrockScript({ count: 1234 })
    const ok = await post(url, JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'count me' }], tools: [] }), {}, '/v1/messages/count_tokens')
    t.equal(ok.status, 200)
    t.same(ok.json(), { input_tokens: 1234 })
    const got = fake.requests.at(-1) as Recorded
    t.equal(got.url, '/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/count-tokens')
    const inner = JSON.parse(Buffer.from(JSON.parse(got.body.toString()).input.invokeModel.body, 'base64').toString())
    t.same(inner, { messages: [{ role: 'user', content: 'count me' }], anthropic_version: 'bedrock-2023-05-31', max_tokens: 1 })

    fake.script = bedrockScript({ count: { status: 403 } })
    const before = fake.requests.length
    const no = await post(url, JSON.stringify({ model: 'claude-sonnet-4-5', messages: [] }), {}, '/v1/messages/count_tokens')
    t.equal(no.status, 501)
    t.equal(no.headers['x-should-retry'], 'false')
    t.equal(no.json().error.type, 'not_supported')
    t.notMatch(no.text, /123456789012/)
    const again = await post(url, JSON.stringify({ model: 'claude-sonnet-4-5', messages: [] }), {}, '/v1/messages/count_tokens')
    t.equal(again.status, 501)
    t.equal(fake.requests.length, before + 1, 'the model is not asked again during the cool-down')
    fake.script = bedrockScript({ count: 5 })
    const other = await post(url, JSON.stringify({ model: 'claude-opus-4-1', messages: [] }), {}, '/v1/messages/count_tokens')
    t.same(other.json(), { input_tokens: 5 }, 'other models still count')
    const stillCooling = await post(url, JSON.stringify({ model: 'claude-sonnet-4-5', messages: [] }), {}, '/v1/messages/count_tokens')
    t.equal(stillCooling.status, 501)
  })

  t.test('errors: status and type kept, AWS text replaced, the recovery sentence kept', async (t) => {
    fake.script = () => ({ kind: 'json', status: 403, body: { message: 'User: arn:aws:sts::123456789012:assumed-role/gw/i-1 is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0' }, headers: { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/' } })
    const denied = await post(url, body('claude-haiku-4-5'))
    t.equal(denied.status, 403)
    t.equal(denied.json().error.type, 'permission_error')
    t.notMatch(denied.text, /123456789012|arn:aws/)
    fake.script = () => ({ kind: 'json', status: 400, body: { message: 'Input is too long.' } })
    const long = await post(url, body('claude-haiku-4-5'))
    t.equal(long.status, 400)
    t.same(long.json().error, { type: 'invalid_request_error', message: 'Input is too long.' })
  })
})

t.test('failover from an Anthropic primary to Bedrock, and pings on a silent Bedrock stream', async (t) => {
  withRuntimeEnv(t, { WEIR_SSE_PING_MS: '200' })
  const primary = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }))
  const fake = await startFakeUpstream(bedrockScript())
  t.teardown(() => primary.close())
  t.teardown(() => fake.close())
  const guardrail = { guardrail: { id: 'gr-7', version: '2', input_tagging: 'user_messages' } }
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'anthropic', name: 'primary', base_url: primary.url, auth: { api_key: 'sk-p' } }, bedrockUp(fake, guardrail)] } })
  const r = await post(url, body('claude-haiku-4-5'))
  t.equal(r.status, 200)
  t.equal(r.text, sseOf(replyEvents()), 'Bedrock served it')
  t.equal(primary.requests.length, 1)
  t.equal(JSON.parse(primary.requests[0]?.body.toString() ?? '{}').model, 'claude-haiku-4-5', 'the primary got the first-party id')
  const got = fake.requests.at(-1) as Recorded
  t.equal(got.headers['x-amzn-bedrock-guardrailidentifier'], 'gr-7', 'the guardrail is applied')
  const sent = JSON.parse(got.body.toString())
  const suffix = sent['amazon-bedrock-guardrailConfig'].tagSuffix as string
  t.equal(sent.messages[0].content, `<amazon-bedrock-guardrails-guardContent_${suffix}>hi</amazon-bedrock-guardrails-guardContent_${suffix}>`, 'user input tagged for it')
  const sneaky = await post(url, body('claude-haiku-4-5', { 'amazon-bedrock-guardrailConfig': { tagSuffix: 'mine' } }))
  t.equal(sneaky.status, 400, 'a body that sets the guardrail fields itself is refused by the gateway')
  t.match(sneaky.json().error.message, /amazon-bedrock-guardrailConfig is not permitted/)
  t.equal(fake.requests.at(-1), got, 'and never sent')

  primary.script = () => ({ kind: 'destroy' })
  const dropped = await post(url, body('claude-haiku-4-5', { stream: false }))
  t.equal(dropped.status, 200, 'a dropped connection fails over too')

  primary.script = () => ({ kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, headers: { 'retry-after': '3' } })
  fake.script = () => ({ kind: 'json', status: 503, body: { message: 'ServiceUnavailableException arn:aws:bedrock:us-east-1:123456789012:x' } })
  const both = await post(url, body('claude-haiku-4-5'))
  t.equal(both.status, 429, 'the most useful failure is answered')
  t.equal(both.json().error.type, 'rate_limit_error', 'the 429 wins by priority (failover exhausted)')
  t.notMatch(JSON.stringify(both.json()), /slow down|arn:aws/, 'gateway-authored after failover: no upstream text relayed (issue 16, differences.md)')

  primary.script = () => ({ kind: 'json', status: 500, body: {} })
  let release!: () => void
  fake.script = bedrockScript({ gate: new Promise((resolve) => { release = resolve }), gateAfter: 2, split: 0 })
  setTimeout(() => release(), 900)
  const slow = await post(url, body('claude-haiku-4-5'))
  t.match(slow.text, /content_block_start[^]*event: ping\ndata: \{"type": "ping"\}\n\n[^]*message_stop/, 'pings during the silence')
  t.equal(slow.text.replace(/event: ping\ndata: \{"type": "ping"\}\n\n/g, ''), sseOf(replyEvents()), 'between whole events only')
})

t.test('vertex, foundry, Claude Platform on AWS and on Google Cloud, mantle, Anthropic with workload identity', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-cloud-'))
  const jwtFile = join(dir, 'wif-jwt')
  writeFileSync(jwtFile, 'k8s-jwt')
  let exchanges = 0
  let wifReject = false
  const fake = await startFakeUpstream((r): Answer => {
    const h = r.headers
    const reply: Answer = { kind: 'sse', frames: simpleStream(`served by ${r.url.split('?')[0] ?? ''}`) }
    if (r.url === '/v1/oauth/token') {
      exchanges++
      const b = JSON.parse(r.body.toString())
      return { kind: 'json', status: 200, body: { access_token: `wif-${exchanges}-${b.assertion as string}`, token_type: 'Bearer', expires_in: 600 } }
    }
    if (r.url.startsWith('/v1/projects/corp-prod/locations/us-east5/publishers/anthropic/models/')) {
      if (h.authorization !== 'Bearer ya29.vertex') return { kind: 'json', status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials for project corp-prod', status: 'UNAUTHENTICATED' } } }
      if (r.url.endsWith('claude-opus-4-1@20250805:streamRawPredict')) return { kind: 'json', status: 400, body: { error: { code: 400, message: 'The request size (31457280 bytes) exceeds 30.000MB limit.', status: 'FAILED_PRECONDITION' } } }
      return reply
    }
    if (r.url.startsWith('/anthropic/v1/messages')) {
      if (h['x-api-key'] === 'az-key') return reply
      if (verifySigV4(r, { region: 'us-east-1', service: 'bedrock-mantle' }) === null) return reply
      return { kind: 'json', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'bad key for resource corp-ai' } } }
    }
    if (r.url.startsWith('/v1/projects/corp-prod/locations/global/workspaces/wrk1/invoke/v1/messages')) {
      return h.authorization === 'Bearer ya29.gcp' ? reply : { kind: 'json', status: 401, body: {} }
    }
    if (r.url.startsWith('/v1/messages')) {
      if (h['anthropic-workspace-id'] === 'wrkspc_01') return verifySigV4(r, { region: 'us-west-2', service: 'aws-external-anthropic' }) === null ? reply : { kind: 'json', status: 403, body: { message: 'bad signature' } }
      if (String(h.authorization).startsWith('Bearer wif-')) {
        if (wifReject) { wifReject = false; return { kind: 'json', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'token revoked' } } } }
        return String(h['anthropic-beta']).includes('oauth-2025-04-20') ? reply : { kind: 'json', status: 400, body: {} }
      }
    }
    return { kind: 'json', status: 404, body: { type: 'error', error: { type: 'not_found_error', message: 'no route' } } }
  })
  t.teardown(() => fake.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [
        { provider: 'vertex', name: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${fake.url}/v1`, auth: { access_token: 'ya29.vertex' }, models: ['claude-sonnet-4-5', 'claude-opus-4-1'] },
        { provider: 'foundry', name: 'foundry', resource: 'corp-ai', base_url: `${fake.url}/anthropic/`, auth: { api_key: 'az-key' }, models: ['claude-haiku-4-5'] },
        { provider: 'anthropicAws', name: 'cpaws', region: 'us-west-2', workspace_id: 'wrkspc_01', base_url: fake.url, auth: KEYS, models: ['claude-opus-4-6'] },
        { provider: 'mantle', name: 'mantle', region: 'us-east-1', base_url: `${fake.url}/anthropic`, auth: KEYS, models: ['claude-opus-4-7'] },
        { provider: 'anthropicGoogleCloud', name: 'cpgcp', project_id: 'corp-prod', workspace_id: 'wrk1', base_url: `${fake.url}/v1/projects/corp-prod/locations/global/workspaces/wrk1/invoke`, auth: { access_token: 'ya29.gcp' }, models: ['claude-sonnet-4-6'] },
        { provider: 'anthropic', name: 'wif', base_url: fake.url, auth: { federation_rule_id: 'fdrl_1', organization_id: 'org_1', identity_token_file: jwtFile }, models: ['claude-opus-4-8'] },
      ]
    },
  })
  const last = (): Recorded => fake.requests.at(-1) as Recorded
  const served = (r: { text: string }, path: string): boolean => r.text.includes(`served by ${path}`)

  const vx = await post(url, body('claude-sonnet-4-5', { tags: { a: 'b' } }), { 'anthropic-beta': 'context-1m-2025-08-07,request-tags-2026-08-21' })
  t.equal(vx.status, 200)
  t.ok(served(vx, '/v1/projects/corp-prod/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict'), 'vertex: @-versioned model in the URL')
  t.same(JSON.parse(last().body.toString()), { anthropic_version: 'vertex-2023-10-16', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'hi' }] })
  t.equal(last().headers['anthropic-beta'], 'context-1m-2025-08-07')
  const big = await post(url, body('claude-opus-4-1'))
  t.equal(big.status, 400)
  t.same(big.json().error, { type: 'invalid_request_error', message: 'Input is too long.' }, "vertex's size 400 becomes the sentence the client recovers from")

  const fd = await post(url, body('claude-haiku-4-5'), {}, '/v1/messages?beta=true')
  t.ok(served(fd, '/anthropic/v1/messages'), 'foundry')
  t.equal(last().url, '/anthropic/v1/messages?beta=true')
  t.equal(last().headers['x-api-key'], 'az-key')

  const aws = await post(url, body('claude-opus-4-6'))
  t.equal(aws.status, 200, 'Claude Platform on AWS, SigV4 verified by the fake')
  t.equal(last().headers['anthropic-workspace-id'], 'wrkspc_01')

  const mt = await post(url, body('claude-opus-4-7', { tags: { a: 'b' } }))
  t.equal(mt.status, 200, 'mantle, SigV4 (bedrock-mantle) verified by the fake')
  t.equal(JSON.parse(last().body.toString()).model, 'anthropic.claude-opus-4-7')
  t.equal(JSON.parse(last().body.toString()).tags, undefined)

  const gc = await post(url, body('claude-sonnet-4-6'))
  t.equal(gc.status, 200, 'Claude Platform on Google Cloud')

  const w1 = await post(url, body('claude-opus-4-8'))
  t.equal(w1.status, 200, 'anthropic with workload identity federation')
  t.equal(last().headers.authorization, 'Bearer wif-1-k8s-jwt')
  await post(url, body('claude-opus-4-8'))
  t.equal(exchanges, 1, 'the bearer is cached')
  wifReject = true
  writeFileSync(jwtFile, 'rotated-jwt')
  const revoked = await post(url, body('claude-opus-4-8'))
  t.equal(revoked.status, 200, 'a 401 drops the cached bearer and the request is retried once with a fresh exchange')
  t.equal(exchanges, 2)
  t.equal(last().headers.authorization, 'Bearer wif-2-rotated-jwt', 'the identity token file is re-read for the new exchange')
})

t.test('foundry with Entra ID (use_azure_ad) from the environment', async (t) => {
  const entra = await tinyServer((s, res) => { sendJson(res, 200, { access_token: `aad-${new URLSearchParams(s.body.toString()).get('client_id') ?? ''}`, expires_in: 3600, token_type: 'Bearer' }) })
  t.teardown(() => entra.close())
  const fake = await startFakeUpstream((r) => r.headers.authorization === 'Bearer aad-app-1' ? { kind: 'sse', frames: simpleStream('via entra') } : { kind: 'json', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'no' } } })
  t.teardown(() => fake.close())
  const env = { AZURE_AUTHORITY_HOST: entra.url, AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_ID: 'app-1', AZURE_CLIENT_SECRET: 'secret-1' }
  Object.assign(process.env, env)
  t.teardown(() => { for (const k of Object.keys(env)) delete process.env[k] })
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'foundry', resource: 'corp-ai', base_url: `${fake.url}/anthropic/`, auth: { use_azure_ad: true } }] } })
  const r = await post(url, body('claude-haiku-4-5'))
  t.equal(r.status, 200)
  t.match(r.text, /via entra/)
  t.equal(entra.seen[0]?.url, '/tenant-1/oauth2/v2.0/token')
})
