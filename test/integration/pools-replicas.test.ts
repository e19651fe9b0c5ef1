/**
 * Two Weir replicas (two gateways, each with its own primary and workers; pool state lives in the
 * workers, so nothing is shared) in front of one pool of three fake Anthropic upstreams:
 *   - each replica keeps its own health: a member cooled on replica one is still healthy on
 *     replica two, which keeps sending that member's sessions to it until it is refused itself;
 *   - they still agree on affinity: every session has the same home on both, and when the member
 *     cools on both, its sessions move to the same next choice on both;
 *   - after the cooldown each replica probes the member on its own, and on both the sessions go
 *     back home (docs/configuration.md says why they return rather than stay).
 * Which member served a turn is read from the fakes (the prompt carries the session and a marker).
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { type FakeUpstream, simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-bob', email: 'bob@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const NAMES = ['a', 'b', 'c'] as const
const SESSIONS = Array.from({ length: 18 }, (_, i) => `4e91${i.toString(16).padStart(4, '0')}-7c1d-4b6e-9a7f-0123456789ab`)
/** The member's cooldown on each replica, from its 429's retry-after (s). Long enough for a few dozen local requests. */
const RETRY_AFTER = 6

const served = new Map<string, string[]>()
const serve = (name: string, f: FakeUpstream): void => {
  f.script = (r) => {
    const text = (JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
    served.set(text, [...served.get(text) ?? [], name])
    return { kind: 'sse', frames: simpleStream() }
  }
}
const limit = (f: FakeUpstream): void => {
  f.script = () => ({ kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, headers: { 'retry-after': String(RETRY_AFTER) } })
}

async function turn (url: string, session: string, marker: string): Promise<{ status: number, by: string[] }> {
  const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: `${marker} ${session}` }] })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-claude-code-session-id': session }, body })
  return { status: r.status, by: served.get(`${marker} ${session}`) ?? [] }
}

t.test('two replicas: own health each, same affinity, same next choice, both back home after the cooldown', async (t) => {
  const fakes = await Promise.all(NAMES.map(async () => await startFakeUpstream()))
  fakes.forEach((f, i) => { serve(NAMES[i] as string, f); t.teardown(() => f.close()) })
  const b = fakes[1] as FakeUpstream
  const config = (c: Record<string, any>): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
    c.upstreams = NAMES.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
    c.upstream_pools = [{ name: 'fleet', members: NAMES.map((n) => ({ upstream: n })), cooldown_seconds: 1 }]
  }
  const one = await startTestGateway(t, { config })
  const two = await startTestGateway(t, { config, workers: 2, idp: one.idp })

  const home = new Map<string, string>()
  for (const s of SESSIONS) {
    const x = await turn(one.url, s, 'home-1')
    const y = await turn(two.url, s, 'home-2')
    t.ok(x.status === 200 && y.status === 200)
    t.same(y.by, x.by, `session ${s.slice(0, 8)}: the same member on both replicas`)
    home.set(s, x.by[0] as string)
  }
  const onB = SESSIONS.filter((s) => home.get(s) === 'b')
  t.ok(onB.length >= 2, `b is home to several sessions (${onB.length})`)

  // b refuses: replica one learns it; its b-sessions move to their next choice.
  limit(b)
  const next = new Map<string, string>()
  const asked1 = b.requests.length
  for (const s of onB) {
    const x = await turn(one.url, s, 'cool-1')
    t.equal(x.status, 200, 'replica one: no client-visible error')
    t.equal(x.by.length, 1)
    t.not(x.by[0], 'b')
    next.set(s, x.by[0] as string)
  }
  t.equal(b.requests.length - asked1, 1, 'replica one asked b once, then kept its sessions off it')

  // b is fine again, but replica one's cooldown has not run out: the replicas disagree about b's
  // health, each by its own answers — replica two never saw b fail and sends b's sessions home.
  serve('b', b)
  for (const s of onB) {
    t.same((await turn(two.url, s, 'split-2')).by, ['b'], 'replica two: b is healthy, the session stays home')
    t.same((await turn(one.url, s, 'split-1')).by, [next.get(s)], 'replica one: b is still cooling, the session stays on its next choice')
  }

  // b refuses again: replica two learns it from its own refusals and moves b's sessions to the
  // same next choice replica one picked — no coordination needed.
  limit(b)
  const asked2 = b.requests.length
  for (const s of onB) {
    const y = await turn(two.url, s, 'cool-2')
    t.equal(y.status, 200, 'replica two: no client-visible error')
    t.same(y.by, [next.get(s)], 'replica two moves the session to the same next choice as replica one')
  }
  const refusedOnTwo = b.requests.length - asked2
  t.ok(refusedOnTwo >= 1 && refusedOnTwo <= 2, `replica two asked b once per worker at most (${refusedOnTwo}, 2 workers)`)
  for (const s of SESSIONS.filter((x) => home.get(x) !== 'b')) {
    t.same((await turn(two.url, s, 'others')).by, [home.get(s)], 'sessions on other members never move')
  }

  // After both cooldowns b answers again; each replica's probe succeeds and the sessions go home on both.
  serve('b', b)
  await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER * 1000 + 300))
  for (const s of onB) {
    t.same((await turn(one.url, s, 'back-1')).by, ['b'], 'replica one: back home after its probe')
    t.same((await turn(two.url, s, 'back-2')).by, ['b'], 'replica two: back home after its probe')
  }
})
