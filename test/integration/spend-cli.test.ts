/**
 * The real Claude Code CLI against Weir's spend headers: past 75% of a cap it raises its usage
 * notice (in print mode it reports it as a `rate_limit_event` in stream-json output; the
 * interactive UI renders the same event as "You've used NN% of your usage credits"), and at the
 * cap it prints Weir's 429 message, reset time and next step included, instead of retrying.
 */
import t from 'tap'
import { claudeAvailable, runClaude } from '../helpers/claude-cli.js'
import { simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { ONE_CENT, bearer, setCap, spendGateway } from './spend-helpers.js'

t.test('claude -p shows the usage notice, then the block message', { skip: claudeAvailable() ? false : 'the Claude Code binary is not installed (linux-x64 dev dependency)' }, async (t) => {
  const fake = await startFakeUpstream((r) => {
    if (r.url.startsWith('/v1/messages/count_tokens')) return { kind: 'json', status: 200, body: { input_tokens: 12 } }
    const b = JSON.parse(r.body.toString('utf8')) as { stream?: boolean, model?: string }
    if (b.stream !== true) return { kind: 'json', status: 200, body: { id: 'msg_1', type: 'message', role: 'assistant', model: b.model, content: [{ type: 'text', text: 'WEIR-SPEND' }], stop_reason: 'end_turn', usage: ONE_CENT } }
    return { kind: 'sse', frames: simpleStream('WEIR-SPEND', ONE_CENT), delayMs: 2 }
  })
  t.teardown(() => fake.close())
  const { url, gw } = await spendGateway(t, fake, {}, (c) => { c.admin.blocked_message = 'ask #finops for more' })
  const token = bearer('u-cli', ['eng'])
  await setCap(url, token, { scope: { type: 'user', user_id: 'u-cli' }, amount: '1000', period: 'monthly' })
  // Spend 85% of the cap directly, as earlier use would have.
  const sql = gw.sql
  const month = new Date().toISOString().slice(0, 7)
  await sql`insert into spend (principal, period, cents, micro_cents) values ('u-cli', ${month}, 850, 850000000)`
  const run = await runClaude(url, token, 'say hi', { args: ['--output-format', 'stream-json', '--verbose'] })
  t.equal(run.status, 0, run.stderr)
  const events = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string, rate_limit_info?: Record<string, unknown> })
  const notice = events.find((e) => e.type === 'rate_limit_event')
  t.match(notice?.rate_limit_info, { status: 'allowed_warning', rateLimitType: 'overage', surpassedThreshold: 0.75 }, 'the CLI took the usage notice from Weir\'s headers')
  // 85% spent before, plus this request's own input cost (the headers count it, so the request
  // that crosses a threshold reports it): a few cents of the 1000-cent cap at the CLI's model.
  const u = Number(notice?.rate_limit_info?.utilization)
  t.ok(u >= 0.85 && u < 0.9, `utilization ${u}: the 85% spent plus this request's input`)
  t.equal(notice?.rate_limit_info?.resetsAt, Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1) / 1000)
  t.ok(events.some((e) => e.type === 'assistant'), 'and the reply')
  await sql`update spend set micro_cents = 1000000000, cents = 1000 where principal = 'u-cli' and period = ${month}`
  const before = fake.requests.length
  const blocked = await runClaude(url, token, 'say hi again')
  t.not(blocked.status, 0)
  t.match(blocked.stdout + blocked.stderr, /spend limit reached · resets [A-Z][a-z]{2} \d{1,2}.* · ask #finops for more/, 'the block message, as Weir wrote it')
  t.equal(fake.requests.length, before, 'nothing reached the upstream, and the CLI did not retry into the block')
})
