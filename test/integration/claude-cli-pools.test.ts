/**
 * End to end with the real Claude Code CLI: a pool of three fake Anthropic upstreams behind Weir.
 * Each CLI session (`--session-id`, resumed with `--resume` in its own config dir) is served by one
 * member — the one rendezvous hashing gives it — for every one of its requests. Then one member
 * turns to 429: the CLI never sees an error, that member's sessions move to their next choice
 * (the second in their rendezvous order) and stay there, and sessions on other members do not
 * move. Which member served a request is read from what each fake saw (the session id the CLI
 * puts in the request), not from timing.
 */
import { join } from 'node:path'
import t from 'tap'
import { UpstreamPools } from '../../lib/proxy/pools/index.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { claudeAvailable, runClaude, type ClaudeRun } from '../helpers/claude-cli.js'
import { simpleStream, startFakeUpstream, type Answer, type FakeUpstream, type Recorded } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'

const NAMES = ['a', 'b', 'c'] as const
const POOL = { name: 'fleet', members: NAMES.map((n) => ({ upstream: n, weight: 1 })), cooldown_seconds: 600, max_cooldown_seconds: 600 }
const UUID = (i: number): string => `0c1a${i.toString(16).padStart(4, '0')}-7c1d-4b6e-9a7f-0123456789ab`

/** The session a recorded request belongs to: the CLI's session id, wherever the request carries it. */
function sessionOf (r: Recorded, sessions: readonly string[]): string | undefined {
  const text = `${String(r.headers['x-claude-code-session-id'] ?? '')} ${r.body.toString('utf8')}`
  return sessions.find((s) => text.includes(s))
}

/** A fake Anthropic API that answers as `name` (the CLI prints the reply), or with a 429 when `limited`. */
function member (name: string, state: { limited: boolean }): (r: Recorded) => Answer {
  return (r) => {
    if (state.limited) return { kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' } }, headers: { 'retry-after': '600' } }
    if (r.url.startsWith('/v1/messages/count_tokens')) return { kind: 'json', status: 200, body: { input_tokens: 12 } }
    const b = JSON.parse(r.body.toString('utf8')) as { stream?: boolean, model?: string }
    const text = `WEIR-POOL-REPLY-FROM-${name.toUpperCase()}`
    if (b.stream !== true) return { kind: 'json', status: 200, body: { id: 'msg_1', type: 'message', role: 'assistant', model: b.model, content: [{ type: 'text', text }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 3 } } }
    return { kind: 'sse', frames: simpleStream(text), delayMs: 2 }
  }
}

t.test('claude -p through a pool of three: sessions pinned, one member 429s, the CLI sees no error', { skip: claudeAvailable() ? false : 'the Claude Code binary is not installed (linux-x64 dev dependency)' }, async (t) => {
  const states = NAMES.map(() => ({ limited: false }))
  const fakes: FakeUpstream[] = await Promise.all(NAMES.map(async (n, i) => await startFakeUpstream(member(n, states[i] as { limited: boolean }))))
  for (const f of fakes) t.teardown(() => f.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = NAMES.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
      c.upstream_pools = [POOL]
    },
  })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token

  // Each session's first and second choice, as every Weir worker and replica computes them.
  const order = UpstreamPools.fromConfig([POOL], [...NAMES]) as UpstreamPools
  const cands = NAMES.map((_, i) => ({ upstream: i, model: 'm', rewrite: false }))
  const choice = (s: string): string[] => order.plan(cands, s).candidates.map((c) => NAMES[c.upstream] as string)
  // Two sessions homed on b (the member that will be rate limited), one on a, one on c.
  const pick: string[] = []
  for (let i = 0; i < 400 && pick.length < 4; i++) {
    const s = UUID(i)
    const home = choice(s)[0] as string
    const want = home === 'b' ? 2 : 1
    if (pick.filter((p) => choice(p)[0] === home).length < want) pick.push(s)
  }
  t.equal(pick.length, 4, 'sessions for every member found')
  const home = new Map(pick.map((s) => [s, choice(s)[0] as string]))
  const next = new Map(pick.map((s) => [s, choice(s)[1] as string]))

  /** Which fakes saw requests of `s` since the given per-fake request counts. */
  const seenSince = (s: string, from: number[]): string[] => NAMES.filter((_, i) => (fakes[i] as FakeUpstream).requests.slice(from[i]).some((r) => sessionOf(r, [s]) === s))
  const counts = (): number[] => fakes.map((f) => f.requests.length)
  const homes = new Map<string, string>()
  const run = async (s: string, prompt: string, resume: boolean): Promise<ClaudeRun> => {
    const dir = homes.get(s)
    const args = resume ? ['--resume', s] : ['--session-id', s]
    const r = await runClaude(url, token, prompt, { args, timeoutMs: 120_000, ...(dir !== undefined ? { env: { HOME: dir, CLAUDE_CONFIG_DIR: join(dir, '.claude') } } : {}) })
    if (dir === undefined) homes.set(s, r.home)
    return r
  }

  // Round 1: every session's requests reach its home only.
  for (const s of pick) {
    const from = counts()
    const r = await run(s, 'say hi', false)
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, new RegExp(`WEIR-POOL-REPLY-FROM-${(home.get(s) as string).toUpperCase()}`), `session on ${home.get(s)}: the reply came from its home`)
    t.same(seenSince(s, from), [home.get(s)], `every request of the session reached ${home.get(s)} and no other member`)
  }
  const asked = fakes.flatMap((f) => f.requests.map((r) => sessionOf(r, pick)))
  t.ok(asked.filter((x) => x !== undefined).length >= pick.length, 'the CLI carries its session id to the upstream')

  // b starts answering 429 (retry-after 600 s): nothing reaches the CLI as an error.
  ;(states[1] as { limited: boolean }).limited = true
  const bBefore = (fakes[1] as FakeUpstream).requests.length
  for (const round of [2, 3]) {
    for (const s of pick) {
      const from = counts()
      const r = await run(s, `turn ${round}`, true)
      t.equal(r.status, 0, `round ${round}: the CLI exits cleanly (${r.stderr.slice(0, 200)})`)
      t.notMatch(`${r.stdout}${r.stderr}`, /rate limit|429|API Error/i, 'and prints no error')
      const saw = seenSince(s, from).filter((n) => n !== 'b')
      if (home.get(s) === 'b') {
        t.same(saw, [next.get(s)], `round ${round}: a session homed on b is served by its next choice (${next.get(s)}) only`)
        t.match(r.stdout, new RegExp(`FROM-${(next.get(s) as string).toUpperCase()}`))
      } else {
        t.same(seenSince(s, from), [home.get(s)], `round ${round}: a session homed on ${home.get(s)} does not move`)
      }
    }
  }
  const bAsked = (fakes[1] as FakeUpstream).requests.length - bBefore
  t.ok(bAsked >= 1, 'b was asked and refused')
  t.ok(bAsked <= 2, `b, cooled for 600 s by its first 429, was asked only by requests already on their way (${bAsked})`)
})
