/**
 * The real Claude Code CLI (2.1.328) in gateway mode, through Weir, served by each cloud provider
 * in turn: Amazon Bedrock (every request SigV4-verified by the fake; replies sent as AWS
 * event-stream messages split across TCP writes, re-emitted by Weir as SSE), Google Vertex,
 * Microsoft Foundry and Claude Platform on AWS. The same session works unchanged whichever serves it.
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { claudeAvailable, runClaude } from '../helpers/claude-cli.js'
import { simpleStream, startFakeUpstream, type Answer } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { AKID, bedrockScript, replyEvents, SECRET, verifySigV4 } from '../proxy/upstreams/fakes.js'

const KEYS = { aws_access_key_id: AKID, aws_secret_access_key: SECRET }

t.test('claude -p works unchanged through Weir to Bedrock, Vertex, Foundry and Claude Platform on AWS', { skip: claudeAvailable() ? false : 'the Claude Code binary is not installed (linux-x64 dev dependency)' }, async (t) => {
  const bedrock = await startFakeUpstream(bedrockScript({
    events: replyEvents('REPLY-FROM-BEDROCK'),
    split: 11,
    delayMs: 1,
    json: { id: 'msg_j', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'REPLY-FROM-BEDROCK' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 3 } },
  }))
  t.teardown(() => bedrock.close())
  // one fake for the Anthropic-SSE providers, answering by URL and checking each one's credential
  const others = await startFakeUpstream((r): Answer => {
    const who = r.url.includes(':streamRawPredict') || r.url.includes(':rawPredict')
      ? (r.headers.authorization === 'Bearer ya29.cli' ? 'VERTEX' : null)
      : r.url.startsWith('/anthropic/v1/messages')
        ? (r.headers['x-api-key'] === 'az-cli' ? 'FOUNDRY' : null)
        : r.url.startsWith('/v1/messages') && verifySigV4(r, { region: 'us-west-2', service: 'aws-external-anthropic' }) === null ? 'CPAWS' : null
    if (who === null) return { kind: 'json', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'bad credential' } } }
    const b = JSON.parse(r.body.toString()) as { stream?: boolean }
    if (b.stream !== true) return { kind: 'json', status: 200, body: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: `REPLY-FROM-${who}` }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 3 } } }
    return { kind: 'sse', frames: simpleStream(`REPLY-FROM-${who}`), delayMs: 1 }
  })
  t.teardown(() => others.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [
        { provider: 'bedrock', region: 'us-east-1', base_url: bedrock.url, auth: KEYS, models: ['claude-opus-4-7'] },
        { provider: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${others.url}/v1`, auth: { access_token: 'ya29.cli' }, models: ['claude-sonnet-4-5'] },
        { provider: 'foundry', resource: 'corp-ai', base_url: `${others.url}/anthropic/`, auth: { api_key: 'az-cli' }, models: ['claude-haiku-4-5'] },
        { provider: 'anthropicAws', region: 'us-west-2', workspace_id: 'wrkspc_cli', base_url: others.url, auth: KEYS, models: ['claude-opus-4-6'] },
      ]
    },
  })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token

  const viaBedrock = await runClaude(url, token, 'say hi', { args: ['--model', 'claude-opus-4-7'] })
  t.equal(viaBedrock.status, 0, viaBedrock.stderr)
  t.match(viaBedrock.stdout, /REPLY-FROM-BEDROCK/)
  const invokes = bedrock.requests.filter((r) => /^\/model\/[^/]+\/invoke/.test(r.url))
  t.ok(invokes.some((r) => r.url === '/model/us.anthropic.claude-opus-4-7/invoke-with-response-stream'), 'a streamed InvokeModel')
  for (const r of bedrock.requests) t.equal(verifySigV4(r, { region: 'us-east-1', service: 'bedrock' }), null, `${r.url}: signed`)
  const sent = JSON.parse(invokes[0]?.body.toString() ?? '{}') as Record<string, unknown>
  t.equal(sent.anthropic_version, 'bedrock-2023-05-31')
  t.equal(sent.model, undefined)

  for (const [model, who] of [['claude-sonnet-4-5', 'VERTEX'], ['claude-haiku-4-5', 'FOUNDRY'], ['claude-opus-4-6', 'CPAWS']]) {
    const run = await runClaude(url, token, 'say hi', { args: ['--model', model as string] })
    t.equal(run.status, 0, `${who as string}: ${run.stderr}`)
    t.match(run.stdout, new RegExp(`REPLY-FROM-${who as string}`), `${who as string} served the session`)
  }
  t.ok(others.requests.some((r) => r.url === '/v1/projects/corp-prod/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict'))
  t.ok(others.requests.some((r) => r.headers['anthropic-workspace-id'] === 'wrkspc_cli'))
})
