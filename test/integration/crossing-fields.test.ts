/**
 * Body fields a crossing target refuses, through the real wire formats: an Anthropic upstream
 * answers 529 and the request fails over to a Bedrock fake (SigV4, AWS event stream) or a Foundry
 * fake (Anthropic's envelope and SSE) that refuses members, server-tool types and a cache ttl
 * the way those providers word it. The client gets a 200 with the target's stream; the target
 * finally gets the body minus exactly what it refused. Foundry is also the target of Bedrock →
 * Foundry (Bedrock-minted thinking, a refused beta). Without a crossing, or for a field Weir does
 * not shed, the refusal stands and reaches the client after one request. Vertex's Google-shaped
 * refusal is read too (Bedrock → Vertex).
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { simpleStream, startFakeUpstream, type Answer, type FakeUpstream, type Recorded } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { AKID, bedrockScript, replyEvents, SECRET, sseOf } from '../proxy/upstreams/fakes.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const AUTH = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const BEDROCK_SIG = 'bdrk-EqQBCkgIARABGAIiQ-minted-by-bedrock'
const FOUNDRY_ONLY = 'first-party-only-2026-02-02'
const OVERLOADED: Answer = { kind: 'json', status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }

const TOOLS = [
  { name: 'Read', input_schema: { type: 'object', properties: { p: { type: 'string' } } }, cache_control: { type: 'ephemeral', ttl: '1h' } },
  { type: 'web_fetch_20250910', name: 'web_fetch', max_uses: 3 },
  { type: 'web_search_20250305', name: 'web_search' },
]

/** A Claude Code-like body with everything the first-party API takes and a cloud may refuse. */
function richBody (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 1024,
    stream: true,
    system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
    tools: TOOLS,
    tool_choice: { type: 'auto' },
    context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] },
    metadata: { user_id: 'u-alice' },
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
    ...extra,
  }
}

/** The refusals, in the order a strict target checks them; `undefined` when it accepts the body. */
type Check = (j: Record<string, any>) => string | undefined // eslint-disable-line @typescript-eslint/no-explicit-any
const checks: Check[] = [
  (j) => j.context_management !== undefined ? 'Malformed input request: #: extraneous key [context_management] is not permitted, please reformat your input and try again.' : undefined,
  (j) => {
    const i = (j.tools ?? []).findIndex((x: { type?: string }) => x.type === 'web_fetch_20250910')
    return i >= 0 ? `tools.${i}: Input tag 'web_fetch_20250910' found using 'type' does not match any of the expected tags: 'bash_20250124', 'custom', 'text_editor_20250124', 'web_search_20250305'` : undefined
  },
  (j) => JSON.stringify(j.system ?? '').includes('"ttl"') ? 'system.0.cache_control.ttl: Extra inputs are not permitted' : undefined,
  (j) => JSON.stringify(j.messages).includes('"ttl"') || JSON.stringify(j.tools ?? '').includes('"ttl"') ? 'messages.0.content.0.cache_control.ttl: Extra inputs are not permitted' : undefined,
  (j) => j.mcp_servers !== undefined ? 'mcp_servers: Extra inputs are not permitted' : undefined,
  (j) => j.container !== undefined ? 'container: Extra inputs are not permitted' : undefined,
  (j) => j.speed !== undefined ? 'speed: Extra inputs are not permitted' : undefined,
]
const refusal = (j: Record<string, unknown>): string | undefined => checks.map((c) => c(j)).find((m) => m !== undefined)

/** Bedrock: AWS's `{message}` 400 for anything `refusal` finds, else the real event stream. */
function strictBedrock (): (r: Recorded) => Answer {
  const inner = bedrockScript()
  return (r) => {
    const why = refusal(JSON.parse(r.body.toString('utf8')))
    return why !== undefined ? { kind: 'json', status: 400, body: { message: why } } : inner(r)
  }
}

/** Foundry: the Messages API's envelope for refusals, foreign signatures and a beta it lacks; else SSE. */
function strictFoundry (): (r: Recorded) => Answer {
  return (r) => {
    const refuse = (message: string): Answer => ({ kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message } } })
    const j = JSON.parse(r.body.toString('utf8')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    if (JSON.stringify(j.messages).includes('"signature"')) return refuse('messages.1.content.0: Invalid `signature` in `thinking` block')
    if (String(r.headers['anthropic-beta'] ?? '').split(',').includes(FOUNDRY_ONLY)) return refuse(`Unexpected value(s) \`${FOUNDRY_ONLY}\` for the \`anthropic-beta\` header. Please consult our documentation.`)
    const why = refusal(j)
    return why !== undefined ? refuse(why) : { kind: 'sse', frames: simpleStream('from foundry') }
  }
}

const bedrockUp = (fake: FakeUpstream): Record<string, unknown> => ({ provider: 'bedrock', name: 'bedrock', region: 'us-east-1', base_url: fake.url, auth: { aws_access_key_id: AKID, aws_secret_access_key: SECRET } })
const foundryUp = (fake: FakeUpstream): Record<string, unknown> => ({ provider: 'foundry', name: 'foundry', resource: 'corp-ai', base_url: `${fake.url}/anthropic/`, auth: { api_key: 'az-key' } })
const anthropicUp = (fake: FakeUpstream, name = 'primary'): Record<string, unknown> => ({ provider: 'anthropic', name, base_url: fake.url, auth: { api_key: `sk-${name}` } })
const last = (f: FakeUpstream): Record<string, any> => JSON.parse((f.requests.at(-1) as Recorded).body.toString()) // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('Anthropic 529 → Bedrock: context_management, a server tool and cache ttls shed one refusal at a time', async (t) => {
  const primary = await startFakeUpstream(() => OVERLOADED)
  const bedrock = await startFakeUpstream(strictBedrock())
  t.teardown(() => primary.close())
  t.teardown(() => bedrock.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [anthropicUp(primary), bedrockUp(bedrock)] } })
  const sent = JSON.stringify(richBody())
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: sent })
  t.equal(r.status, 200, r.text)
  t.equal(r.text, sseOf(replyEvents()), 'the client gets the stream Bedrock sent, re-emitted')
  t.equal(primary.requests[0]?.body.toString(), sent, 'the home provider got the client\'s bytes untouched')
  t.equal(bedrock.requests.length, 4, 'one refusal per fix: context_management, web_fetch, ttl (both spots at once), then the answer')
  const got = last(bedrock)
  t.equal(got.context_management, undefined, 'context_management left out')
  t.same(got.tools.map((x: { name: string }) => x.name), ['Read', 'web_search'], 'only the refused server tool left; the client tool and the accepted one stay')
  t.same(got.tools[0].input_schema, TOOLS[0]?.input_schema)
  t.same(got.system, [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }], 'ttl removed, cache_control kept')
  t.same(got.messages[0].content[0].cache_control, { type: 'ephemeral' })
  t.same(got.tools[0].cache_control, { type: 'ephemeral' })
  t.same(got.tool_choice, { type: 'auto' }, 'tool_choice kept: it names no refused tool')
  t.same(got.metadata, { user_id: 'u-alice' }, 'other members untouched')
  t.equal(primary.requests.length, 1, 'the cooled-over home is asked once')
})

t.test('the repeats are bounded: a target that refuses more than four fields answers the client with its refusal', async (t) => {
  const primary = await startFakeUpstream(() => OVERLOADED)
  const bedrock = await startFakeUpstream(strictBedrock())
  t.teardown(() => primary.close())
  t.teardown(() => bedrock.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [anthropicUp(primary), bedrockUp(bedrock)] } })
  const body = richBody({ mcp_servers: [{ type: 'url', url: 'https://mcp.example.com', name: 'x' }], container: 'ctr_1' })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) })
  t.equal(r.status, 400, 'after four fixes the fifth refusal is the answer')
  t.equal(r.json().type, 'error')
  t.equal(bedrock.requests.length, 5, 'the first try and four repeats, no more')
})

t.test('a field Weir does not shed, or a refusal without a crossing, reaches the client after one request', async (t) => {
  const primary = await startFakeUpstream(() => OVERLOADED)
  const bedrock = await startFakeUpstream(strictBedrock())
  const second = await startFakeUpstream((r) => {
    const why = refusal(JSON.parse(r.body.toString('utf8')))
    return why !== undefined ? { kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: why } } } : { kind: 'sse', frames: simpleStream() }
  })
  for (const f of [primary, bedrock, second]) t.teardown(() => f.close())
  const cross = await startTestGateway(t, { config: (c) => { c.upstreams = [anthropicUp(primary), bedrockUp(bedrock)] } })
  const plain = { model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] }
  const unknown = await req(`${cross.url}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify({ ...plain, speed: 'fast' }) })
  t.equal(unknown.status, 400, '`speed` is not a field Weir sheds: the refusal stands')
  t.equal(bedrock.requests.length, 1)

  const same = await startTestGateway(t, { config: (c) => { c.upstreams = [anthropicUp(primary), anthropicUp(second, 'second')] } })
  const r = await req(`${same.url}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify({ ...plain, context_management: { edits: [] } }) })
  t.equal(r.status, 400, 'Anthropic → Anthropic is no crossing: the second key\'s refusal is relayed')
  t.match(r.json().error.message, /extraneous key \[context_management\]/)
  t.equal(second.requests.length, 1, 'and not repeated')
  t.ok(second.requests[0]?.body.includes('"context_management"'))
})

t.test('Anthropic 529 → Foundry: foreign thinking out, mcp_servers and container shed', async (t) => {
  const primary = await startFakeUpstream(() => OVERLOADED)
  const foundry = await startFakeUpstream(strictFoundry())
  t.teardown(() => primary.close())
  t.teardown(() => foundry.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [anthropicUp(primary), foundryUp(foundry)] } })
  const body = {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 1024,
    stream: true,
    mcp_servers: [{ type: 'url', url: 'https://mcp.example.com', name: 'x' }],
    container: 'ctr_1',
    messages: [
      { role: 'user', content: 'what now?' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 'EqQB-minted-by-anthropic' }, { type: 'text', text: 'this' }] },
      { role: 'user', content: 'and then?' },
    ],
  }
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) })
  t.equal(r.status, 200, r.text)
  t.match(r.text, /from foundry/)
  t.equal(foundry.requests.length, 3, 'signature removed up front; mcp_servers, then container, each cost one repeat')
  const got = last(foundry)
  t.equal(foundry.requests.at(-1)?.url, '/anthropic/v1/messages')
  t.equal(got.mcp_servers, undefined)
  t.equal(got.container, undefined)
  t.same(got.messages[1], { role: 'assistant', content: [{ type: 'text', text: 'this' }] })
})

t.test('Bedrock 529 → Foundry: Bedrock-minted thinking and a beta Foundry lacks', async (t) => {
  const bedrock = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { message: 'Bedrock is unable to process your request.' } }))
  const foundry = await startFakeUpstream(strictFoundry())
  t.teardown(() => bedrock.close())
  t.teardown(() => foundry.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [bedrockUp(bedrock), foundryUp(foundry)] } })
  const body = {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 4096,
    stream: true,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'greet', signature: BEDROCK_SIG }, { type: 'text', text: 'hello' }] },
      { role: 'user', content: 'again' },
    ],
  }
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'anthropic-beta': `interleaved-thinking-2025-05-14,${FOUNDRY_ONLY}` }, body: JSON.stringify(body) })
  t.equal(r.status, 200, r.text)
  t.match(r.text, /from foundry/)
  const lastReq = foundry.requests.at(-1) as Recorded
  t.equal(lastReq.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14', 'the refused beta left, the other stayed')
  t.notOk(lastReq.body.toString().includes(BEDROCK_SIG), 'no Bedrock signature reached Foundry')
  t.same(last(foundry).thinking, { type: 'enabled', budget_tokens: 2048 }, 'thinking stays on: the latest turn is not a tool loop')
  t.equal(foundry.requests.length, 2, 'one repeat, for the beta')
  t.equal(bedrock.requests.length, 1)
})

t.test('Bedrock 529 → Vertex: a refusal in Google\'s error shape sheds context_management too', async (t) => {
  const bedrock = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { message: 'Bedrock is unable to process your request.' } }))
  const vertex = await startFakeUpstream((r) => {
    const j = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>
    if (j.context_management !== undefined) return { kind: 'json', status: 400, body: [{ error: { code: 400, message: 'context_management: Extra inputs are not permitted', status: 'INVALID_ARGUMENT' } }] }
    return { kind: 'sse', frames: simpleStream('from vertex') }
  })
  t.teardown(() => bedrock.close())
  t.teardown(() => vertex.close())
  const { url } = await startTestGateway(t, {
    config: (c) => { c.upstreams = [bedrockUp(bedrock), { provider: 'vertex', name: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${vertex.url}/v1`, auth: { access_token: 'ya29.vertex' } }] },
  })
  const body = { model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, context_management: { edits: [] }, messages: [{ role: 'user', content: 'hi' }] }
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) })
  t.equal(r.status, 200, r.text)
  t.match(r.text, /from vertex/)
  t.equal(vertex.requests.length, 2)
  t.equal(last(vertex).context_management, undefined)
  t.same(last(vertex).messages, body.messages)
})
