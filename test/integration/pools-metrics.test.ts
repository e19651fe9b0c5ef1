/**
 * Pool state in the gateway's own metrics, through a real gateway and its Prometheus endpoint:
 * requests per member (the share), a member's cooldown (and how many workers keep it out:
 * cooldown − recovered), and input-side tokens per member (the cache-hit ratio), from fake
 * upstreams that report different cache reads. Every wait is a bounded poll.
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { prometheusUrl } from '../../lib/telemetry/exporter.js'
import { type FakeUpstream, simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { until } from '../telemetry/collector.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-carol', email: 'carol@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const NAMES = ['a', 'b', 'c'] as const
/** Per member: input, cache read, cache write of each answer. */
const USAGE = { a: [10, 90, 0], b: [10, 0, 90], c: [50, 50, 0] } as const
const SESSIONS = Array.from({ length: 30 }, (_, i) => `3e7a${i.toString(16).padStart(4, '0')}-7c1d-4b6e-9a7f-0123456789ab`)

function sample (text: string, name: string, ...match: string[]): number {
  return text.split('\n')
    .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))
    .filter((l) => match.every((m) => l.includes(m)))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}
const scrape = async (): Promise<string> => (await req(prometheusUrl() as string)).text

t.test('share, cooldowns and cache-hit ratio per pool member reach /metrics', async (t) => {
  const servedBy = new Map<string, string>()
  const fakes: FakeUpstream[] = await Promise.all(NAMES.map(async (n) => await startFakeUpstream((r) => {
    const text = (JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
    servedBy.set(text, n)
    const [input, read, write] = USAGE[n]
    return { kind: 'sse', frames: simpleStream('ok', { input_tokens: input, output_tokens: 3, cache_read_input_tokens: read, cache_creation_input_tokens: write }) }
  })))
  for (const f of fakes) t.teardown(() => f.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = NAMES.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
      c.upstream_pools = [{ name: 'fleet', members: NAMES.map((n) => ({ upstream: n })), cooldown_seconds: 600, max_cooldown_seconds: 600 }]
      c.telemetry = { forward_to: [], gateway_metrics: { prometheus: { port: 0 } } }
    },
  })
  const turn = async (s: string, marker: string): Promise<void> => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: `${marker} ${s}` }] })
    const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-claude-code-session-id': s }, body })
    t.equal(r.status, 200)
  }
  for (const s of SESSIONS) await turn(s, 'one')
  const served = NAMES.map((n) => SESSIONS.filter((s) => servedBy.get(`one ${s}`) === n).length)
  t.ok(served.every((x) => x > 0), `every member served sessions (${served.join('/')})`)

  // c starts failing: one 503 cools it (600 s) on the only worker; its sessions move.
  ;(fakes[2] as FakeUpstream).script = () => ({ kind: 'json', status: 503, body: { type: 'error', error: { type: 'api_error', message: 'unavailable' } } })
  for (const s of SESSIONS) await turn(s, 'two')
  const afterCool = NAMES.map((n) => SESSIONS.filter((s) => servedBy.get(`two ${s}`) === n).length)
  t.equal(afterCool[2], 0, 'c served nothing while cooling')

  const text = await until('pool metrics in Prometheus', async () => {
    const s = await scrape()
    return sample(s, 'weir_requests_total', 'route="/v1/messages"') >= 2 * SESSIONS.length && sample(s, 'weir_pool_events_total', 'upstream="c"') >= 1 ? s : undefined
  })
  for (const [i, n] of NAMES.entries()) {
    t.equal(sample(text, 'weir_requests_total', 'route="/v1/messages"', `upstream="${n}"`), (served[i] as number) + (afterCool[i] as number), `requests served by ${n}: its share`)
    const [input, read, write] = USAGE[n]
    const k = (served[i] as number) + (afterCool[i] as number)
    t.equal(sample(text, 'weir_upstream_tokens_total', `upstream="${n}"`, 'type="cache_read"'), read * k, `${n}: cache reads`)
    const all = ['input', 'cache_read', 'cache_write'].map((ty) => sample(text, 'weir_upstream_tokens_total', `upstream="${n}"`, `type="${ty}"`))
    if (k > 0) t.equal(all[1] as number / all.reduce((a, b) => a + b, 0), read / (input + read + write), `${n}: cache-hit ratio from the series`)
    else t.same(all, [0, 0, 0])
  }
  t.equal(sample(text, 'weir_pool_events_total', 'pool="fleet"', 'upstream="c"', 'event="cooldown"'), 1, 'c cooled once')
  t.equal(sample(text, 'weir_pool_events_total', 'pool="fleet"', 'upstream="c"', 'event="recovered"'), 0, 'and is still out: cooldown − recovered = 1 worker')
  t.equal(sample(text, 'weir_pool_events_total', 'upstream="a"'), 0, 'a never cooled')
})
