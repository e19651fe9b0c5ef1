/**
 * Failover across providers through the real wire formats: an Anthropic upstream answers 529, the
 * request fails over to a Bedrock fake (SigV4, AWS event stream) that — like a real provider —
 * refuses thinking signatures it did not mint and a beta it does not know. The client gets a 200
 * and the streamed answer; a conversation that stays on Bedrock reaches it with its own thinking
 * blocks untouched. The same through a mixed pool (sessions homed on each provider, one member
 * cooling) and from Bedrock to Vertex (a beta refused in Vertex's header).
 */
import t from 'tap'
import { UpstreamPools } from '../../lib/proxy/pools/index.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { simpleStream, startFakeUpstream, type Answer, type FakeUpstream, type Recorded } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { AKID, bedrockScript, replyEvents, SECRET, sseOf } from '../proxy/upstreams/fakes.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const AUTH = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const FIRST_PARTY_BETA = 'first-party-only-2026-02-02'
const ANTHROPIC_SIG = 'EqQBCkgIARABGAIiQLx-minted-by-anthropic'
const BEDROCK_SIG = 'bdrk-EqQBCkgIARABGAIiQ-minted-by-bedrock'

/** A conversation in a tool loop whose earlier turns carry thinking signed by `sig`. */
function conversation (sig: string): string {
  return JSON.stringify({
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 4096,
    stream: true,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    tools: [{ name: 'Read', input_schema: { type: 'object', properties: { p: { type: 'string' } } } }],
    messages: [
      { role: 'user', content: 'what is in a?' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'read it', signature: sig }, { type: 'redacted_thinking', data: sig }, { type: 'tool_use', id: 'tu1', name: 'Read', input: { p: 'a' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'A' }] },
    ],
  })
}

/** Bedrock that refuses a signature it did not mint and a beta it does not know, as AWS words it. */
function strictBedrock (): (r: Recorded) => Answer {
  const inner = bedrockScript()
  return (r) => {
    const j = JSON.parse(r.body.toString('utf8')) as { messages?: Array<{ role: string, content: unknown }>, anthropic_beta?: string[], thinking?: unknown }
    for (const [i, m] of (j.messages ?? []).entries()) {
      if (m.role !== 'assistant' || !Array.isArray(m.content)) continue
      for (const [k, b] of (m.content as Array<{ type: string, signature?: string, data?: string }>).entries()) {
        if (b.type === 'thinking' && b.signature?.startsWith('bdrk-') !== true) return { kind: 'json', status: 400, body: { message: `messages.${i}.content.${k}: Invalid \`signature\` in \`thinking\` block` } }
        if (b.type === 'redacted_thinking' && b.data?.startsWith('bdrk-') !== true) return { kind: 'json', status: 400, body: { message: `messages.${i}.content.${k}: Invalid data in redacted_thinking block` } }
      }
    }
    if (j.thinking !== undefined && Array.isArray(j.messages?.[1]?.content) && (j.messages[1].content as Array<{ type: string }>)[0]?.type === 'tool_use') {
      return { kind: 'json', status: 400, body: { message: 'messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.' } }
    }
    const bad = (j.anthropic_beta ?? []).find((b) => b === FIRST_PARTY_BETA)
    if (bad !== undefined) return { kind: 'json', status: 400, body: { message: `invalid beta flag in anthropic_beta: ${bad}` } }
    return inner(r)
  }
}

const bedrockUp = (fake: FakeUpstream): Record<string, unknown> => ({ provider: 'bedrock', name: 'bedrock', region: 'us-east-1', base_url: fake.url, auth: { aws_access_key_id: AKID, aws_secret_access_key: SECRET } })

t.test('Anthropic 529 → Bedrock: foreign thinking and an unknown beta never reach the client as a 400', async (t) => {
  const primary = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }))
  const bedrock = await startFakeUpstream(strictBedrock())
  t.teardown(() => primary.close())
  t.teardown(() => bedrock.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'anthropic', name: 'primary', base_url: primary.url, auth: { api_key: 'sk-p' } }, bedrockUp(bedrock)] } })

  const sent = conversation(ANTHROPIC_SIG)
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'anthropic-beta': `interleaved-thinking-2025-05-14,${FIRST_PARTY_BETA}` }, body: sent })
  t.equal(r.status, 200, 'the client gets a 200')
  t.match(r.headers['content-type'], /^text\/event-stream/)
  t.equal(r.text, sseOf(replyEvents()), 'and the answer Bedrock streamed')
  t.equal(primary.requests.length, 1)
  t.equal(primary.requests[0]?.body.toString(), sent, 'the first-choice provider got the client\'s bytes untouched')
  const last = JSON.parse((bedrock.requests.at(-1) as Recorded).body.toString())
  t.notOk(JSON.stringify(last).includes(ANTHROPIC_SIG), 'no Anthropic-minted signature reached Bedrock')
  t.same(last.anthropic_beta, ['interleaved-thinking-2025-05-14'], 'the refused beta was left out, the others kept')
  t.equal(last.thinking, undefined, 'the tool loop that lost its thinking is answered without extended thinking')
  t.same(last.messages[1].content, [{ type: 'tool_use', id: 'tu1', name: 'Read', input: { p: 'a' } }])
  t.same(last.tools, JSON.parse(sent).tools)

  // Without a beta to shed the refusal stands: a real 400 that is not about crossing is still the answer.
  const plain = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] })
  const ok = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: plain })
  t.equal(ok.status, 200, 'a plain conversation fails over as before')
})

t.test('staying on Bedrock: its own thinking blocks reach it untouched', async (t) => {
  const bedrock = await startFakeUpstream(strictBedrock())
  const spare = await startFakeUpstream()
  t.teardown(() => bedrock.close())
  t.teardown(() => spare.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [bedrockUp(bedrock), { provider: 'anthropic', name: 'spare', base_url: spare.url, auth: { api_key: 'sk-s' } }] } })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: conversation(BEDROCK_SIG) })
  t.equal(r.status, 200)
  const got = JSON.parse((bedrock.requests.at(-1) as Recorded).body.toString())
  t.same(got.messages, JSON.parse(conversation(BEDROCK_SIG)).messages, 'thinking and redacted_thinking kept, signatures and all')
  t.same(got.thinking, { type: 'enabled', budget_tokens: 2048 })
  t.equal(spare.requests.length, 0)
})

t.test('a mixed pool: sessions homed on Anthropic move to Bedrock and keep working; Bedrock-homed ones are untouched', async (t) => {
  const a = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }))
  const b = await startFakeUpstream(strictBedrock())
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const pool = { name: 'mixed', members: [{ upstream: 'a', weight: 1 }, { upstream: 'b', weight: 1 }], cooldown_seconds: 60, max_cooldown_seconds: 300 }
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [{ provider: 'anthropic', name: 'a', base_url: a.url, auth: { api_key: 'sk-a' } }, { ...bedrockUp(b), name: 'b' }]
      c.upstream_pools = [{ name: pool.name, members: pool.members, cooldown_seconds: pool.cooldown_seconds }]
    },
  })
  // The same rendezvous order the gateway computes, to know each session's home.
  const order = UpstreamPools.fromConfig([pool], ['a', 'b']) as UpstreamPools
  const cands = [{ upstream: 0, model: 'm', rewrite: false }, { upstream: 1, model: 'm', rewrite: false }]
  const sessions = Array.from({ length: 16 }, (_, i) => `c4055${i.toString(16).padStart(3, '0')}-7c1d-4b6e-9a7f-0123456789ab`)
  const homes = sessions.map((s) => order.plan(cands, s).home)
  t.ok(homes.includes(0) && homes.includes(1), 'both members are home to some session')
  for (let round = 0; round < 2; round++) {
    for (const [i, s] of sessions.entries()) {
      const sent = conversation(homes[i] === 0 ? ANTHROPIC_SIG : BEDROCK_SIG)
      const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'x-claude-code-session-id': s }, body: sent })
      t.equal(r.status, 200, `round ${round}, session homed on ${homes[i] === 0 ? 'Anthropic' : 'Bedrock'}: no 400`)
      const got = JSON.parse((b.requests.at(-1) as Recorded).body.toString())
      if (homes[i] === 1) t.same(got.messages, JSON.parse(sent).messages, 'a Bedrock-homed session reaches Bedrock untouched')
      else t.notOk(JSON.stringify(got).includes(ANTHROPIC_SIG), 'no Anthropic signature reaches Bedrock, also while Anthropic cools')
    }
  }
  t.ok(a.requests.length <= 1 + sessions.length, 'the cooled member is not asked on every request')
})

t.test('Bedrock 529 → Vertex: Bedrock-minted thinking and a beta Vertex refuses in its header', async (t) => {
  const bedrock = await startFakeUpstream(() => ({ kind: 'json', status: 529, body: { message: 'Bedrock is unable to process your request.' } }))
  const vertex = await startFakeUpstream((r) => {
    const j = JSON.parse(r.body.toString('utf8')) as { messages: Array<{ role: string, content: unknown }> }
    const refuse = (message: string): Answer => ({ kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message } } })
    if (JSON.stringify(j.messages).includes('"signature"')) return refuse('messages.1.content.0: Invalid `signature` in `thinking` block')
    const betas = String(r.headers['anthropic-beta'] ?? '').split(',')
    if (betas.includes(FIRST_PARTY_BETA)) return refuse(`Unexpected value(s) \`${FIRST_PARTY_BETA}\` for the \`anthropic-beta\` header. Please consult our documentation.`)
    return { kind: 'sse', frames: simpleStream('from vertex') }
  })
  t.teardown(() => bedrock.close())
  t.teardown(() => vertex.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [bedrockUp(bedrock), { provider: 'vertex', name: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${vertex.url}/v1`, auth: { access_token: 'ya29.vertex' } }]
    },
  })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'anthropic-beta': `${FIRST_PARTY_BETA},interleaved-thinking-2025-05-14` }, body: conversation(BEDROCK_SIG) })
  t.equal(r.status, 200)
  t.match(r.text, /from vertex/)
  const last = vertex.requests.at(-1) as Recorded
  t.equal(last.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14', 'the refused beta left the header, the other stayed')
  t.notOk(last.body.toString().includes(BEDROCK_SIG))
  t.equal(bedrock.requests.length, 1)
})
