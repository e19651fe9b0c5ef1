/**
 * The telemetry relay end to end, over real sockets: a real gateway (worker threads, Postgres,
 * oidc-provider), signed-in clients posting OTLP, fake collectors receiving it; and the gateway's
 * own metrics over Prometheus and OTLP. Every wait is a bounded poll.
 */
import { gzipSync } from 'node:zlib'
import { createServer } from 'node:net'
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { prometheusUrl } from '../../lib/telemetry/exporter.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { startCollector, until, type Received } from '../telemetry/collector.js'
import { decode, otlpBody } from '../telemetry/otlp-fixtures.js'

const ring = keyRing([TEST_SECRET])
const bearer = (who: { sub: string, email?: string, groups?: string[] }): string => `Bearer ${mintToken(ring, who, { ttlHours: 1 }).token}`
const ALICE = bearer({ sub: 'u-alice', email: 'alice@example.com', groups: ['eng', 'admins'] })
const BOB = bearer({ sub: 'u-bob', email: 'bob@corp.example', groups: ['contractors'] })
const SPOOF = {
  resource: { 'service.name': 'claude-code', 'user.email': 'ceo@corp.example', 'user.id': 'u-ceo', 'user.groups': 'finance' },
  record: { 'user.email': 'ceo@corp.example', 'session.id': 's-1' },
}

async function post (url: string, signal: string, body: Buffer, headers: Record<string, string>) {
  return await req(`${url}/v1/${signal}`, { method: 'POST', body, headers })
}

async function scrape (): Promise<string> {
  const u = prometheusUrl()
  if (u === null) throw new Error('no Prometheus endpoint')
  return (await req(u)).text
}

/** Sum of the samples of `name` whose labels contain every `match`. */
function sample (text: string, name: string, ...match: string[]): number {
  return text.split('\n')
    .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))
    .filter((l) => match.every((m) => l.includes(m)))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

t.test('relay: verified identity, protobuf and JSON, gzip, per-signal opt-in, no client credentials', async (t) => {
  const a = await startCollector()
  const b = await startCollector()
  const own = await startCollector()
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  t.teardown(() => own.close())
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.limits = { max_request_bytes: 1 << 20 }
      c.telemetry = {
        forward_to: [
          { url: `${a.url}/`, headers: { 'x-collector-key': 'k-a' }, logs: true },
          { url: b.url },
        ],
        resource_attributes: { 'team.name': 'core' },
        gateway_metrics: { prometheus: { port: 0 }, otlp: { url: own.url, interval_seconds: 1 } },
      }
    },
  })

  for (const signal of ['metrics', 'logs', 'traces']) {
    const none = await post(url, signal, otlpBody('metrics', 'protobuf', SPOOF), { 'content-type': 'application/x-protobuf' })
    t.equal(none.status, 401, `${signal}: no bearer`)
    t.equal(none.json().error.type, 'authentication_error')
    t.equal(none.headers['x-should-retry'], 'false')
  }
  const forged = await post(url, 'metrics', otlpBody('metrics', 'protobuf', SPOOF), { authorization: 'Bearer not.a.token', 'content-type': 'application/x-protobuf' })
  t.equal(forged.status, 401, 'forged bearer')

  // protobuf metrics from alice, claiming to be someone else
  const r1 = await post(url, 'metrics', otlpBody('metrics', 'protobuf', SPOOF), { authorization: ALICE, 'content-type': 'application/x-protobuf' })
  t.equal(r1.status, 200)
  t.equal(r1.text, '', 'empty body')
  t.notOk(r1.headers['content-type'], 'no content type')
  const atA = await until('metrics at a', () => a.received.find((r) => r.path === '/v1/metrics'))
  const atB = await until('metrics at b', () => b.received.find((r) => r.path === '/v1/metrics'))
  for (const r of [atA, atB]) {
    const d = decode('metrics', String(r.headers['content-type']), r.body)
    t.same(d.resources.map((x) => [x['user.id'], x['user.email'], x['user.groups'], x['identity.source'], x['service.name'], x['team.name']]),
      [['u-alice', 'alice@example.com', 'eng,admins', 'gateway-oidc', 'claude-code', 'core']], 'identity from the bearer, not the client')
    t.ok(d.records.every((x) => x['user.email'] === 'alice@example.com' && x['session.id'] === 's-1'), 'record-level email replaced too')
    t.equal(r.raw.indexOf('ceo@corp.example'), -1)
    t.notOk(r.headers.authorization, "the client's bearer is never forwarded")
    t.equal(r.headers['content-type'], 'application/x-protobuf')
  }
  t.equal(atA.headers['x-collector-key'], 'k-a', 'destination headers sent')
  t.notOk(atB.headers['x-collector-key'])

  // gzip JSON logs: only a opted in to logs
  const logs = gzipSync(otlpBody('logs', 'json', SPOOF))
  const r2 = await post(url, 'logs', logs, { authorization: ALICE, 'content-type': 'application/json', 'content-encoding': 'gzip' })
  t.equal(r2.status, 200)
  const logsAtA = await until('logs at a', () => a.received.find((r) => r.path === '/v1/logs'))
  t.equal(logsAtA.headers['content-encoding'], 'gzip')
  t.equal(logsAtA.headers['content-type'], 'application/json')
  const dl = decode('logs', 'application/json', logsAtA.body)
  t.equal(dl.resources[0]?.['user.email'], 'alice@example.com')
  t.same(dl.names, ['user_prompt', 'api_request'])

  // traces: nobody opted in — still 200, body not even read
  const r3 = await post(url, 'traces', otlpBody('traces', 'protobuf', SPOOF), { authorization: ALICE, 'content-type': 'application/x-protobuf' })
  t.equal(r3.status, 200)

  // bob, JSON metrics, plain: his identity, not alice's
  const r4 = await post(url, 'metrics', otlpBody('metrics', 'json', SPOOF), { authorization: BOB, 'content-type': 'application/json' })
  t.equal(r4.status, 200)
  const isBob = (r: Received): boolean => r.path === '/v1/metrics' && r.headers['content-type'] === 'application/json'
  const bobAtB = await until('bob at b', () => b.received.find(isBob))
  const db = decode('metrics', 'application/json', bobAtB.body)
  t.same([db.resources[0]?.['user.id'], db.resources[0]?.['user.email'], db.resources[0]?.['user.groups']], ['u-bob', 'bob@corp.example', 'contractors'])
  await until('bob at a', () => a.received.find(isBob))
  t.notOk(b.received.some((r) => r.path !== '/v1/metrics'), 'b got metrics only')
  t.notOk(a.received.some((r) => r.path === '/v1/traces'), 'traces went nowhere')

  const big = await post(url, 'metrics', Buffer.alloc((1 << 20) + 1), { authorization: ALICE, 'content-type': 'application/x-protobuf' })
  t.equal(big.status, 413, 'limits.max_request_bytes applies')

  // The gateway's own metrics: Prometheus text on its own port, and OTLP to the configured collector.
  const text = await until('request counts in Prometheus', async () => {
    const s = await scrape()
    return sample(s, 'weir_requests_total', 'route="/v1/metrics"', 'status="200"') >= 2 ? s : undefined
  })
  t.equal(sample(text, 'weir_requests_total', 'route="/v1/logs"', 'status="200"'), 1)
  t.ok(sample(text, 'weir_telemetry_relayed_total', 'signal="metrics"') >= 4)
  t.match(text, /weir_telemetry_queue\{destination="http:\/\/127\.0\.0\.1:\d+"\} 0/)
  t.match(text, /weir_pool_threads \d/)
  t.equal(sample(text, 'weir_telemetry_dropped_total', 'reason="no_destination"'), 0, 'traces were refused in the worker, never sent to the primary')
  const exported = await until('own metrics exported over OTLP', () => own.received.find((r) => r.body.includes('"weir.requests"') && r.body.includes('/v1/metrics')))
  t.equal(exported.path, '/v1/metrics')
})

async function closedPort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

t.test('a stuck and a dead collector: clients stay fast, queues stay bounded, drops are counted', async (t) => {
  const stuck = await startCollector()
  stuck.answer = () => 'hang'
  t.teardown(() => stuck.close())
  const dead = `http://127.0.0.1:${await closedPort()}`
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.telemetry = { forward_to: [{ url: stuck.url }, { url: dead }], gateway_metrics: { prometheus: { port: 0 } } }
    },
  })
  const body = otlpBody('metrics', 'protobuf', SPOOF)
  let slowest = 0
  for (let round = 0; round < 10; round++) {
    const results = await Promise.all(Array.from({ length: 30 }, async () => {
      const t0 = performance.now()
      const r = await post(url, 'metrics', body, { authorization: ALICE, 'content-type': 'application/x-protobuf' })
      slowest = Math.max(slowest, performance.now() - t0)
      return r.status
    }))
    t.ok(results.every((s) => s === 200), `round ${round}: all 200`)
    // Let the pool catch up, so what piles up is the stuck collector's queue.
    await until('the round stamped', async () => sample(await scrape(), 'weir_telemetry_pending') === 0)
  }
  // The collector never answers and its timeout is 10 s: waiting on it would show up as seconds.
  t.ok(slowest < 2000, `clients never wait on a collector (slowest ${Math.round(slowest)} ms)`)
  const h = await req(`${url}/healthz`)
  t.equal(h.status, 200)

  const text = await until('the dead collector paused', async () => {
    const s = await scrape()
    return sample(s, 'weir_telemetry_dropped_total', 'reason="circuit_open"') > 0 ? s : undefined
  })
  const stuckLabel = `destination="${stuck.url}"`
  const queued = sample(text, 'weir_telemetry_queue', stuckLabel)
  const inflight = sample(text, 'weir_telemetry_inflight', stuckLabel)
  const dropped = sample(text, 'weir_telemetry_dropped_total', stuckLabel)
  t.ok(queued <= 128, `the stuck collector's queue stops at its cap (${queued})`)
  t.ok(inflight <= 4, `at most four requests open against it (${inflight})`)
  t.ok(stuck.seen() <= 4 * 3, 'the collector saw no more than that (plus retries after timeouts)')
  t.equal(queued + inflight + dropped, 300, 'every batch is queued, in flight, or dropped and counted')
  t.ok(dropped >= 300 - 128 - 4, `the overflow was dropped (${dropped})`)
  t.ok(sample(text, 'weir_telemetry_held') <= 64 * 1024 * 1024, 'held bytes within the budget')
})
