/**
 * End to end with the real Claude Code CLI in gateway mode: `claude -p` through Weir to a fake
 * Anthropic upstream on a real socket, streaming reply printed by the CLI. Run with the pinned
 * version and with the previous pin (npm alias `claude-code-<version>`), so a change that breaks
 * older clients is seen.
 */
import t, { type Test } from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { CLAUDE_BIN, CLAUDE_PREVIOUS, CLAUDE_VERSION, claudeAvailable, runClaude } from '../helpers/claude-cli.js'
import { simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'

async function sayHi (t: Test, bin: string, version: string): Promise<void> {
  const fake = await startFakeUpstream((r) => {
    if (r.url.startsWith('/v1/messages/count_tokens')) return { kind: 'json', status: 200, body: { input_tokens: 12 } }
    const b = JSON.parse(r.body.toString('utf8')) as { stream?: boolean, model?: string }
    if (b.stream !== true) return { kind: 'json', status: 200, body: { id: 'msg_1', type: 'message', role: 'assistant', model: b.model, content: [{ type: 'text', text: 'WEIR-E2E-REPLY' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 3 } } }
    return { kind: 'sse', frames: simpleStream('WEIR-E2E-REPLY'), delayMs: 5 }
  })
  t.teardown(() => fake.close())
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-e2e' } }] } })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
  const run = await runClaude(url, token, 'say hi', { bin })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /WEIR-E2E-REPLY/)
  const inference = fake.requests.filter((r) => r.url.startsWith('/v1/messages'))
  t.ok(inference.length >= 1, 'the CLI reached the upstream through Weir')
  t.equal(inference[0]?.headers['x-api-key'], 'sk-e2e', 'with the gateway-held credential')
  t.equal(inference[0]?.headers.authorization, undefined)
  t.match(String(inference[0]?.headers['user-agent']), new RegExp(`claude-cli/${version.replace(/\./g, '\\.')}.* weir/`))
}

t.test(`claude -p (pinned ${CLAUDE_VERSION}) through Weir prints the upstream reply`, { skip: claudeAvailable() ? false : 'the Claude Code binary is not installed (linux-x64 dev dependency)' }, async (t) => {
  await sayHi(t, CLAUDE_BIN, CLAUDE_VERSION)
})

t.test(`claude -p (previous pin ${CLAUDE_PREVIOUS.version}) through Weir prints the upstream reply`, { skip: claudeAvailable(CLAUDE_PREVIOUS.bin) ? false : 'the previous Claude Code binary is not installed (linux-x64 dev dependency alias)' }, async (t) => {
  await sayHi(t, CLAUDE_PREVIOUS.bin, CLAUDE_PREVIOUS.version)
})
