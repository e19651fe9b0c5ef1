/**
 * The real Claude Code CLI (the pinned @anthropic-ai/claude-code dev dependency) end to end against
 * Weir, signed in with /login exactly as on a developer machine (test/helpers/claude-login.ts):
 *   1. /login completes the device flow and stores Weir's session token;
 *   2. a `claude -p` run with that credential fetches the managed settings and applies them (the
 *      policy pushes a model, which the upstream then sees), streams the reply through Weir, and
 *      sends its OpenTelemetry through Weir to the operator's collector — under the identity from
 *      the sign-in;
 *   3. `claude auth logout` revokes the token at Weir.
 * Skipped where a private mount namespace is impossible (not root, no unshare).
 */
import t from 'tap'
import { loginUnavailable, loginWithCli } from '../helpers/claude-login.js'
import { simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { freePort } from '../helpers/pg.js'
import { http } from '../auth/helpers/flow.js'
import { startCollector } from '../telemetry/collector.js'
import { decode } from '../telemetry/otlp-fixtures.js'

const PUSHED_MODEL = 'claude-haiku-4-5-20251001'

t.test('the real CLI signs in with /login, runs under Weir\'s policy and telemetry, and signs out', { timeout: 300_000 }, async (t) => {
  const reason = loginUnavailable()
  if (reason !== null) { t.pass(`skipped: ${reason}`, { skip: reason }); return }
  const upstream = await startFakeUpstream((r) => {
    if (r.url.startsWith('/v1/messages/count_tokens')) return { kind: 'json', status: 200, body: { input_tokens: 9 } }
    const b = JSON.parse(r.body.toString('utf8')) as { stream?: boolean, model?: string }
    if (b.stream !== true) return { kind: 'json', status: 200, body: { id: 'msg_1', type: 'message', role: 'assistant', model: b.model, content: [{ type: 'text', text: 'SIGNED-IN-REPLY' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 3 } } }
    return { kind: 'sse', frames: simpleStream('SIGNED-IN-REPLY') }
  })
  t.teardown(() => upstream.close())
  const collector = await startCollector()
  t.teardown(() => collector.close())
  const port = await freePort()
  const g = await startTestGateway(t, {
    config: (c) => {
      c.listen.port = port
      c.listen.public_url = `http://127.0.0.1:${port}`
      c.upstreams = [{ provider: 'anthropic', base_url: upstream.url, auth: { api_key: 'sk-cli' } }]
      c.managed = { policies: [{ match: {}, cli: { model: PUSHED_MODEL, env: { OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_LOGS_EXPORT_INTERVAL: '1000' } } }] }
      c.telemetry = { forward_to: [{ url: collector.url, metrics: true, logs: true }] }
    },
  })

  const cli = await loginWithCli(t, g.url)
  t.ok(cli.code, 'the CLI showed a user code from Weir')
  t.equal(cli.browserStatus, 200, 'the browser part completed at the callback')
  t.equal(cli.confirmedEmail, 'alice@example.com', 'the CLI showed the email from the token response for confirmation')
  t.ok(cli.connected, `the CLI reports it is connected${cli.connected ? '' : `; screen ends: ${cli.screenTail}`}`)
  if (!cli.connected) return
  const jwt = cli.jwt as string
  t.ok(jwt, 'the CLI stored the session token')
  t.equal(JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()).sub, 'u-alice')
  const metrics = async (): Promise<number> => (await http(`${g.url}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })).status
  t.equal(await metrics(), 200, 'Weir accepts the bearer the CLI holds')

  const run = await cli.run('exec "$CLAUDE_BIN" -p "say hi" </dev/null')
  t.equal(run.code, 0, run.out.slice(-1500))
  t.match(run.out, /SIGNED-IN-REPLY/, 'the reply streamed through Weir')
  const models = upstream.requests.filter((r) => r.url.startsWith('/v1/messages') && !r.url.startsWith('/v1/messages/count_tokens')).map((r) => JSON.parse(r.body.toString('utf8')).model as string)
  t.ok(models.includes(PUSHED_MODEL), `the CLI applied the model from Weir's managed settings (sent ${models.join(', ')})`)

  // The CLI exports OTLP to Weir (pushed by the policy's telemetry env); Weir stamps identity and forwards.
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && !collector.received.some((r) => r.path === '/v1/metrics')) await new Promise((resolve) => setTimeout(resolve, 250))
  const got = collector.received.filter((r) => r.path === '/v1/metrics')
  t.ok(got.length > 0, 'the CLI\'s metrics reached the collector through Weir')
  if (got.length > 0) {
    const first = got[0] as (typeof got)[number]
    const d = decode('metrics', String(first.headers['content-type']), first.body)
    t.equal(d.resources[0]?.['user.email'], 'alice@example.com', 'identity from the sign-in')
    t.equal(d.resources[0]?.['user.id'], 'u-alice')
    t.equal(d.resources[0]?.['identity.source'], 'gateway-oidc')
    t.notOk(first.headers.authorization, 'the developer\'s bearer is not forwarded to the collector')
  }

  const logout = await cli.run('exec "$CLAUDE_BIN" auth logout </dev/null', 60_000)
  t.equal(logout.code, 0, 'claude auth logout')
  t.equal(await metrics(), 401, 'sign-out revoked the bearer at Weir')
})
