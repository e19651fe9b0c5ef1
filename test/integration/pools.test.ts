/**
 * Upstream pools through a real gateway: three fake Anthropic upstreams in one pool, sessions
 * (`x-claude-code-session-id`) pinned to one member each — the same member on a second gateway
 * with two workers (no shared state) — and one member turning to 429: no client sees an error,
 * only that member's sessions move, they stay on their next choice while it cools, and they come
 * back after its cooldown once a probe was answered.
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { type FakeUpstream, simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const NAMES = ['a', 'b', 'c'] as const
const SESSIONS = Array.from({ length: 24 }, (_, i) => `5e55${i.toString(16).padStart(4, '0')}-7c1d-4b6e-9a7f-0123456789ab`)

/** What each fake answered with a reply (not an error), by the prompt text: `served.get(text)` = the fakes. */
const served = new Map<string, string[]>()
const serve = (name: string, f: FakeUpstream): void => {
  f.script = (r) => {
    const text = (JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
    served.set(text, [...served.get(text) ?? [], name])
    return { kind: 'sse', frames: simpleStream() }
  }
}
const servedBy = (text: string): string[] => served.get(text) ?? []

async function turn (url: string, session: string, marker: string): Promise<number> {
  const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: `${marker} ${session}` }] })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-claude-code-session-id': session }, body })
  return r.status
}

t.test('a pool of three: sessions pinned across gateways, one member 429s, clients see no error', async (t) => {
  const fakes = await Promise.all(NAMES.map(async () => await startFakeUpstream()))
  fakes.forEach((f, i) => { serve(NAMES[i] as string, f); t.teardown(() => f.close()) })
  const config = (c: Record<string, any>): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
    c.upstreams = NAMES.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
    c.upstream_pools = [{ name: 'fleet', members: NAMES.map((n) => ({ upstream: n })), cooldown_seconds: 1 }]
  }
  const one = await startTestGateway(t, { config })
  const two = await startTestGateway(t, { config, workers: 2, idp: one.idp })

  // Round 1: every session, three turns on the first gateway and three on the second.
  const home = new Map<string, string>()
  for (const s of SESSIONS) {
    for (let k = 0; k < 3; k++) t.equal(await turn(k % 2 === 0 ? one.url : two.url, s, `r1-${k}`), 200)
    const where = new Set(['r1-0', 'r1-1', 'r1-2'].flatMap((m) => servedBy(`${m} ${s}`)))
    t.equal(where.size, 1, `session ${s} stays on one upstream across both gateways`)
    home.set(s, [...where][0] as string)
  }
  const counts = NAMES.map((n) => [...home.values()].filter((h) => h === n).length)
  t.ok(counts.every((c) => c > 0), `every member serves some sessions (${counts.join('/')})`)

  // b turns to 429 with retry-after: every request still succeeds.
  const b = fakes[1] as FakeUpstream
  b.script = () => ({ kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, headers: { 'retry-after': '1' } })
  const before429 = b.requests.length
  const t429 = Date.now()
  const moved = new Map<string, string>()
  for (let round = 0; round < 2; round++) {
    for (const s of SESSIONS) {
      t.equal(await turn(one.url, s, `r2-${round}`), 200, 'no client-visible error while b is rate limited')
      const where = servedBy(`r2-${round} ${s}`)
      t.equal(where.length, 1)
      const w = where[0] as string
      if (home.get(s) !== 'b') t.equal(w, home.get(s), 'a session not on b does not move')
      else {
        t.not(w, 'b')
        if (round === 0) moved.set(s, w)
        else t.equal(w, moved.get(s), 'a moved session stays on its next choice while b cools')
      }
    }
  }
  t.ok(moved.size > 0, 'some sessions lived on b')
  // One request cools b for its retry-after (1 s); after that one probe per cooldown, at most.
  const asked = b.requests.length - before429
  t.ok(asked <= 1 + Math.ceil((Date.now() - t429) / 1000), `b was asked once per cooldown at most (${asked} requests in ${2 * SESSIONS.length} turns)`)

  // b recovers; after its cooldown a probe is answered and b's sessions come back.
  serve('b', b)
  await new Promise((resolve) => setTimeout(resolve, 2100))
  for (const s of SESSIONS) {
    t.equal(await turn(one.url, s, 'r3'), 200)
    t.same(servedBy(`r3 ${s}`), [home.get(s)], 'back on its own member')
  }
})

t.test('a member that times out or drops the connection is cooled: its sessions go straight to their next choice', async (t) => {
  served.clear()
  const fakes = await Promise.all(NAMES.map(async () => await startFakeUpstream()))
  fakes.forEach((f, i) => { serve(NAMES[i] as string, f); t.teardown(() => f.close()) })
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = NAMES.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
      c.upstream_pools = [{ name: 'fleet', members: NAMES.map((n) => ({ upstream: n })), cooldown_seconds: 600, max_cooldown_seconds: 600 }]
      c.timeouts = { upstream_ttfb_ms: 300 }
    },
  })
  const home = new Map<string, string>()
  for (const s of SESSIONS) { t.equal(await turn(url, s, 'home'), 200); home.set(s, servedBy(`home ${s}`)[0] as string) }
  for (const [bad, answer] of [['a', { kind: 'hang' }], ['c', { kind: 'destroy' }]] as const) {
    const f = fakes[NAMES.indexOf(bad)] as FakeUpstream
    f.script = () => answer
    const before = f.requests.length
    const mine = SESSIONS.filter((s) => home.get(s) === bad)
    t.ok(mine.length > 1, `${bad} has sessions`)
    for (const s of mine) {
      t.equal(await turn(url, s, `after-${bad}`), 200, 'the client sees no error')
      t.not(servedBy(`after-${bad} ${s}`)[0], bad)
    }
    t.equal(f.requests.length - before, 1, `only the first request reached ${bad}; it is cooled for 600 s`)
  }
})
