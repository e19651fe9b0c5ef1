/**
 * What each cloud provider's `prepare` puts on the wire: URL, body rules, headers, credentials —
 * with SigV4 signatures checked by the fakes' independent verifier.
 */
import t from 'tap'
import type { AnthropicAwsUpstream, AnthropicGoogleCloudUpstream, BedrockUpstream, FoundryUpstream, MantleUpstream, VertexUpstream } from '../../../lib/config/schema.js'
import { GatewayError } from '../../../lib/errors.js'
import { anthropicAwsUpstream } from '../../../lib/proxy/upstreams/anthropic-aws.js'
import { bedrockUpstream, mergedBetas, regionalModel } from '../../../lib/proxy/upstreams/bedrock.js'
import { countBody, foundationId } from '../../../lib/proxy/upstreams/bedrock-count.js'
import { members } from '../../../lib/proxy/upstreams/body-edit.js'
import { foundryUpstream } from '../../../lib/proxy/upstreams/foundry.js'
import { googleCloudUpstream } from '../../../lib/proxy/upstreams/google-cloud.js'
import { mantleUpstream } from '../../../lib/proxy/upstreams/mantle.js'
import { vertexBase, vertexUpstream } from '../../../lib/proxy/upstreams/vertex.js'
import { AKID, SECRET, verifySigV4 } from './fakes.js'
import { asRequest, makeCall, out, POOL } from './helpers.js'

const KEYS = { aws_access_key_id: AKID, aws_secret_access_key: SECRET }
const MESSAGES = [{ role: 'user', content: [{ type: 'text', text: 'hi "there"\n\u00e9' }] }]
const BODY = { model: 'claude-sonnet-4-5-20250929', max_tokens: 1024, stream: true, tags: { team: 'x' }, system: 'be brief', messages: MESSAGES, anthropic_beta: ['x-beta', 'interleaved-thinking-2025-05-14'], thinking: { type: 'enabled', budget_tokens: 2000 } }

const bedrock = (extra: Partial<BedrockUpstream> = {}): BedrockUpstream => ({ name: 'br', provider: 'bedrock', region: 'us-east-1', auth: KEYS, ...extra } as BedrockUpstream)

t.test('bedrock: streamed invoke — URL, body rules, betas, SigV4', async (t) => {
  const up = bedrockUpstream(bedrock(), POOL)
  t.teardown(() => up.close())
  const call = makeCall(BODY, { model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14, request-tags-2026-08-21,fine-grained-tool-streaming-2025-05-14', 'x-stainless-lang': 'js' } })
  const o = await out(up.prepare(call))
  t.equal(o.origin, 'https://bedrock-runtime.us-east-1.amazonaws.com')
  t.equal(o.path, '/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream')
  const body = JSON.parse(o.body.toString()) as Record<string, unknown>
  t.same(Object.keys(body), ['anthropic_version', 'anthropic_beta', 'max_tokens', 'system', 'messages', 'thinking'])
  t.equal(body.anthropic_version, 'bedrock-2023-05-31')
  t.same(body.anthropic_beta, ['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14', 'x-beta'], 'header betas moved into the body, merged, deduplicated, request-tags dropped')
  t.same(body.messages, MESSAGES)
  t.ok((o.body as Buffer).includes(Buffer.from(JSON.stringify(MESSAGES))), 'members are copied byte for byte')
  const h = o.headers
  t.equal(h['anthropic-beta'], undefined)
  t.equal(h.accept, 'application/vnd.amazon.eventstream')
  t.equal(h['x-stainless-lang'], 'js')
  t.match(h['user-agent'], /claude-cli/)
  t.equal(verifySigV4(asRequest(o), { region: 'us-east-1', service: 'bedrock' }), null, 'the signature verifies')
  t.equal(verifySigV4(asRequest({ ...o, body: Buffer.concat([o.body as Buffer, Buffer.from(' ')]) }), { region: 'us-east-1', service: 'bedrock' }), 'signature mismatch', 'and covers the body')
})

t.test('bedrock: non-streaming invoke, ARNs in the path, client anthropic_version kept', async (t) => {
  const up = bedrockUpstream(bedrock({ base_url: 'https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/prefix' }), POOL)
  t.teardown(() => up.close())
  const arn = 'arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123'
  const o = await out(up.prepare(makeCall({ model: 'x', anthropic_version: 'bedrock-2023-05-31', max_tokens: 5, messages: MESSAGES }, { model: arn })))
  t.equal(o.origin, 'https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com')
  t.equal(o.path, `/prefix/model/${encodeURIComponent(arn)}/invoke`)
  t.equal(o.headers.accept, 'application/json')
  t.equal(JSON.parse(o.body.toString()).anthropic_version, 'bedrock-2023-05-31')
  t.notOk('anthropic_beta' in JSON.parse(o.body.toString()), 'no betas, no anthropic_beta')
  t.equal(verifySigV4(asRequest(o), { region: 'us-east-1', service: 'bedrock' }), null, 'path segments are encoded twice in the canonical request')
})

t.test('bedrock: API key bearer; session token; extra headers', async (t) => {
  const up = bedrockUpstream(bedrock({ auth: { aws_bearer_token: 'bedrock-api-key' }, headers: { 'x-team': 'platform' } }), POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall(BODY, { model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' })))
  t.equal(o.headers.authorization, 'Bearer bedrock-api-key')
  t.equal(o.headers['x-amz-date'], undefined)
  t.equal(o.headers['x-team'], 'platform')
  const st = bedrockUpstream(bedrock({ auth: { ...KEYS, aws_session_token: 'sess-tok' } }), POOL)
  t.teardown(() => st.close())
  const o2 = await out(st.prepare(makeCall(BODY, { model: 'm' })))
  t.equal(verifySigV4(asRequest(o2), { region: 'us-east-1', service: 'bedrock', sessionToken: 'sess-tok' }), null)
})

t.test('bedrock: guardrail headers and input tagging; a client cannot set the guardrail fields', async (t) => {
  const up = bedrockUpstream(bedrock({ guardrail: { id: 'gr-1', version: '3', input_tagging: 'last_message' }, guardrail_trace: true }), POOL)
  t.teardown(() => up.close())
  const convo = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'old question' }, { role: 'assistant', content: 'old answer' }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'tool says' }, { type: 'text', text: 'new question' }] }] }
  const o = await out(up.prepare(makeCall(convo)))
  t.equal(o.headers['x-amzn-bedrock-guardrailidentifier'], 'gr-1')
  t.equal(o.headers['x-amzn-bedrock-guardrailversion'], '3')
  t.equal(o.headers['x-amzn-bedrock-trace'], 'ENABLED')
  const body = JSON.parse(o.body.toString())
  const suffix = body['amazon-bedrock-guardrailConfig'].tagSuffix as string
  t.match(suffix, /^[0-9a-f]{20}$/)
  const tag = (s: string): string => `<amazon-bedrock-guardrails-guardContent_${suffix}>${s}</amazon-bedrock-guardrails-guardContent_${suffix}>`
  t.equal(body.messages[0].content, 'old question', 'earlier turns are not tagged')
  t.same(body.messages[2].content, [{ type: 'tool_result', tool_use_id: 't', content: tag('tool says') }, { type: 'text', text: tag('new question') }])
  t.equal(verifySigV4(asRequest(o), { region: 'us-east-1', service: 'bedrock' }), null, 'guardrail headers are signed')

  // Refused in pre-flight: a thrown 400 the hot path renders, nothing is sent upstream.
  const sneaky = await (async () => await out(up.prepare(makeCall({ ...convo, 'amazon-bedrock-guardrailConfig': { tagSuffix: 'x' } }))))().then(() => null, (e: unknown) => e)
  t.ok(sneaky instanceof GatewayError)
  const ge = sneaky as GatewayError
  t.same({ status: ge.status, type: ge.type, message: ge.message }, { status: 400, type: 'invalid_request_error', message: 'amazon-bedrock-guardrailConfig is not permitted: this gateway applies a guardrail to Bedrock requests' })
})

t.test('bedrock: built-in US profiles become foundation ids outside the US', async (t) => {
  t.equal(regionalModel('us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'eu-west-1'), 'anthropic.claude-sonnet-4-5-20250929-v1:0')
  t.equal(regionalModel('us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'us-west-2'), 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')
  t.equal(regionalModel('us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'ca-central-1'), 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')
  t.equal(regionalModel('us.corp.custom', 'eu-west-1'), 'us.corp.custom', 'operator ids are left alone')
  t.equal(regionalModel('eu.anthropic.claude-sonnet-4-5-20250929-v1:0', 'eu-west-1'), 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0')
  const ms = members(Buffer.from('{"anthropic_beta":["b","a"],"x":1}'))
  t.same(mergedBetas('a, c ,request-tags-2026-08-21', Buffer.from('{"anthropic_beta":["b","a"],"x":1}'), ms), ['a', 'c', 'b'])
})

t.test('bedrock count_tokens: CountTokens request, or a refusal that fails over', async (t) => {
  t.equal(foundationId('us.anthropic.claude-haiku-4-5-20251001-v1:0'), 'anthropic.claude-haiku-4-5-20251001-v1:0')
  t.equal(foundationId('arn:aws:bedrock:us-east-1:1:inference-profile/global.anthropic.claude-opus-4-6-v1'), 'anthropic.claude-opus-4-6-v1')
  t.equal(foundationId('arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0'), 'anthropic.claude-3-7-sonnet-20250219-v1:0')
  t.equal(foundationId('arn:aws:bedrock:us-east-1:1:application-inference-profile/abc'), null)
  t.equal(foundationId('arn:aws:bedrock:us-east-1:1:provisioned-model/abc'), null)
  t.equal(foundationId('corp-model'), null)

  const cb = JSON.parse(Buffer.from(JSON.parse(countBody(Buffer.from(JSON.stringify({ model: 'm', tags: {}, tools: [], thinking: { type: 'enabled', budget_tokens: 3000 }, messages: MESSAGES, anthropic_beta: ['context-management-2025-06-27', 'x'] })), 'claude-code-20250219,interleaved-thinking-2025-05-14').toString()).input.invokeModel.body, 'base64').toString())
  t.same(cb, { thinking: { type: 'enabled', budget_tokens: 3000 }, messages: MESSAGES, anthropic_beta: ['claude-code-20250219', 'context-management-2025-06-27'], anthropic_version: 'bedrock-2023-05-31', max_tokens: 3001 })

  const up = bedrockUpstream(bedrock(), POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall({ model: 'claude-haiku-4-5', messages: MESSAGES }, { endpoint: 'count_tokens', model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' })))
  t.equal(o.path, '/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/count-tokens')
  t.equal(verifySigV4(asRequest(o), { region: 'us-east-1', service: 'bedrock' }), null)
  let refused: unknown
  try { up.prepare(makeCall({ model: 'x', messages: MESSAGES }, { endpoint: 'count_tokens', model: 'arn:aws:bedrock:us-east-1:1:application-inference-profile/abc' })) } catch (err) { refused = err }
  t.ok(refused instanceof GatewayError && refused.code === 'GW_NOT_SUPPORTED' && refused.status === 501, 'application inference profiles cannot be counted: 501, fails over')
})

t.test('vertex: endpoints per region, body rules, bearer', async (t) => {
  t.equal(vertexBase('global'), 'https://aiplatform.googleapis.com/v1')
  t.equal(vertexBase('us-east5'), 'https://us-east5-aiplatform.googleapis.com/v1')
  t.equal(vertexBase('eu'), 'https://aiplatform.eu.rep.googleapis.com/v1')
  const up = vertexUpstream({ name: 'vx', provider: 'vertex', region: 'global', project_id: 'corp-prod', auth: { access_token: 'ya29.static' } } as VertexUpstream, POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall(BODY, { model: 'claude-sonnet-4-5@20250929', query: 'beta=true', headers: { 'anthropic-beta': 'a-2025-01-01,request-tags-2026-08-21' } })))
  t.equal(o.origin, 'https://aiplatform.googleapis.com')
  t.equal(o.path, '/v1/projects/corp-prod/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict')
  t.equal(o.headers.authorization, 'Bearer ya29.static')
  t.equal(o.headers['anthropic-beta'], 'a-2025-01-01', 'betas stay a header, minus request-tags')
  const body = JSON.parse(o.body.toString())
  t.equal(body.anthropic_version, 'vertex-2023-10-16')
  t.equal(body.model, undefined)
  t.equal(body.tags, undefined)
  t.equal(body.stream, true, 'stream stays in the body')
  const ns = await out(up.prepare(makeCall({ ...BODY, stream: false }, { model: 'claude-opus-4-6' })))
  t.match(ns.path, /models\/claude-opus-4-6:rawPredict$/)
  const c = await out(up.prepare(makeCall({ model: 'claude-haiku-4-5', messages: MESSAGES, tags: { a: 'b' } }, { endpoint: 'count_tokens', model: 'claude-haiku-4-5@20251001' })))
  t.equal(c.path, '/v1/projects/corp-prod/locations/global/publishers/anthropic/models/count-tokens:rawPredict')
  t.same(JSON.parse(c.body.toString()), { anthropic_version: 'vertex-2023-10-16', model: 'claude-haiku-4-5@20251001', messages: MESSAGES }, 'count keeps the (Vertex) model in the body')
  const regional = vertexUpstream({ name: 'vr', provider: 'vertex', region: 'europe-west1', project_id: 'p1', base_url: 'https://psc.example.internal/v1', auth: { access_token: 't' } } as VertexUpstream, POOL)
  t.teardown(() => regional.close())
  const r = await out(regional.prepare(makeCall(BODY, { model: 'claude-sonnet-4-6' })))
  t.equal(r.origin, 'https://psc.example.internal')
  t.equal(r.path, '/v1/projects/p1/locations/europe-west1/publishers/anthropic/models/claude-sonnet-4-6:streamRawPredict')
})

t.test('foundry: resource URL or base_url, api key, pass-through body', async (t) => {
  const up = foundryUpstream({ name: 'fd', provider: 'foundry', resource: 'Corp-AI', auth: { api_key: 'az-key' } } as FoundryUpstream, POOL)
  t.teardown(() => up.close())
  const call = makeCall(BODY, { model: 'corp-sonnet-deployment', query: 'beta=true', headers: { 'anthropic-beta': 'b1' } })
  const o = await out(up.prepare(call))
  t.equal(o.origin, 'https://corp-ai.services.ai.azure.com')
  t.equal(o.path, '/anthropic/v1/messages?beta=true')
  t.equal(o.headers['x-api-key'], 'az-key')
  t.equal(o.headers['anthropic-beta'], 'b1')
  t.equal(JSON.parse(o.body.toString()).model, 'corp-sonnet-deployment', 'the deployment name')
  t.ok((o.body as Buffer).includes(Buffer.from('"tags":{"team":"x"}')), 'tags pass (Foundry accepts them)')
  const sov = foundryUpstream({ name: 'fs', provider: 'foundry', resource: 'corp', base_url: 'https://corp.cognitiveservices.azure.us/anthropic/', auth: { api_key: 'k' } } as FoundryUpstream, POOL)
  t.teardown(() => sov.close())
  const c = await out(sov.prepare(makeCall(BODY, { endpoint: 'count_tokens' })))
  t.equal(c.origin, 'https://corp.cognitiveservices.azure.us')
  t.equal(c.path, '/anthropic/v1/messages/count_tokens')
})

t.test('anthropicAws: workspace header, SigV4 for aws-external-anthropic, or x-api-key', async (t) => {
  const up = anthropicAwsUpstream({ name: 'aa', provider: 'anthropicAws', region: 'us-west-2', workspace_id: 'wrkspc_01', auth: KEYS } as AnthropicAwsUpstream, POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall(BODY, { query: 'beta=true', headers: { 'anthropic-beta': 'b1' } })))
  t.equal(o.origin, 'https://aws-external-anthropic.us-west-2.api.aws')
  t.equal(o.path, '/v1/messages?beta=true')
  t.equal(o.headers['anthropic-workspace-id'], 'wrkspc_01')
  t.equal(o.headers['anthropic-beta'], 'b1')
  t.same(o.body, makeCall(BODY).body, 'the body is unchanged')
  t.equal(verifySigV4(asRequest(o), { region: 'us-west-2', service: 'aws-external-anthropic' }), null)
  t.match(o.headers.authorization, /SignedHeaders=[^,]*anthropic-workspace-id/, 'the workspace header is signed')
  const key = anthropicAwsUpstream({ name: 'ak', provider: 'anthropicAws', region: 'us-west-2', workspace_id: 'w', auth: { api_key: 'sk-aws', ...KEYS } } as AnthropicAwsUpstream, POOL)
  t.teardown(() => key.close())
  const k = await out(key.prepare(makeCall(BODY, { endpoint: 'count_tokens' })))
  t.equal(k.headers['x-api-key'], 'sk-aws', 'an api key wins over SigV4')
  t.equal(k.headers.authorization, undefined)
  t.equal(k.path, '/v1/messages/count_tokens')
})

t.test('mantle: Messages API under /anthropic, SigV4 for bedrock-mantle, tags removed', async (t) => {
  const up = mantleUpstream({ name: 'mt', provider: 'mantle', region: 'us-east-1', models: ['claude-opus-4-7'], auth: KEYS } as MantleUpstream, POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall(BODY, { model: 'anthropic.claude-opus-4-7', headers: { 'anthropic-beta': 'b1,request-tags-2026-08-21' } })))
  t.equal(o.origin, 'https://bedrock-mantle.us-east-1.api.aws')
  t.equal(o.path, '/anthropic/v1/messages')
  t.equal(o.headers['anthropic-beta'], 'b1')
  const body = JSON.parse(o.body.toString())
  t.equal(body.model, 'anthropic.claude-opus-4-7')
  t.equal(body.tags, undefined)
  t.equal(body.stream, true)
  t.equal(verifySigV4(asRequest(o), { region: 'us-east-1', service: 'bedrock-mantle' }), null)
})

t.test('anthropicGoogleCloud: workspace path, Google bearer, body unchanged', async (t) => {
  const up = googleCloudUpstream({ name: 'gc', provider: 'anthropicGoogleCloud', project_id: 'corp-prod', workspace_id: 'wrk1', location: 'global', auth: { access_token: 'ya29.x' } } as AnthropicGoogleCloudUpstream, POOL)
  t.teardown(() => up.close())
  const o = await out(up.prepare(makeCall(BODY)))
  t.equal(o.origin, 'https://claude.googleapis.com')
  t.equal(o.path, '/v1/projects/corp-prod/locations/global/workspaces/wrk1/invoke/v1/messages')
  t.equal(o.headers.authorization, 'Bearer ya29.x')
  t.same(o.body, makeCall(BODY).body)
})

t.test('guardrail input tagging modes', async (t) => {
  const { tagInput } = await import('../../../lib/proxy/upstreams/guardrail.js')
  const msgs = [
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: [{ type: 'text', text: 'a1' }] },
    { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc' }, context: 'ctx' }, { type: 'image', source: { type: 'base64', data: 'AAAA' } }, { type: 'text', text: '  ' }] },
    { role: 'assistant', content: 'prefill' },
  ]
  const w = (s: string): string => `<amazon-bedrock-guardrails-guardContent_S>${s}</amazon-bedrock-guardrails-guardContent_S>`
  const last = tagInput(msgs, 'sys', 'last_message', 'S')
  t.same(JSON.parse(last?.messages ?? '[]'), [msgs[0], msgs[1], { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: w('doc') }, context: w('ctx') }, msgs[2]?.content[1], { type: 'text', text: '  ' }] }, msgs[3]], 'the newest user turn only; the prefill, images and blanks are left alone')
  t.equal(last?.system, undefined)
  const users = JSON.parse(tagInput(msgs, 'sys', 'user_messages', 'S')?.messages ?? '[]')
  t.equal(users[0].content, w('q1'))
  t.equal(users[1].content[0].text, 'a1')
  const all = tagInput(msgs, [{ type: 'text', text: 'sys' }], 'all_messages_and_system', 'S')
  t.equal(JSON.parse(all?.messages ?? '[]')[3].content, w('prefill'))
  t.same(JSON.parse(all?.system ?? '[]'), [{ type: 'text', text: w('sys') }])
  t.equal(JSON.parse(tagInput(msgs, 'sys', 'all_messages', 'S')?.messages ?? '[]')[1].content[0].text, w('a1'))
  t.equal(tagInput([{ role: 'user', content: [{ type: 'image', source: {} }] }], undefined, 'last_message', 'S'), null, 'nothing to tag')
  t.throws(() => tagInput('nope', undefined, 'last_message'), /not an array/)
})
