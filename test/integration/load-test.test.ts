/**
 * load_test_mode over real sockets: a real gateway (worker threads, Postgres, IdP) whose upstreams
 * would be real fake servers, but which answers every model request with a canned reply in each
 * provider's wire format, meters it at zero, and can stand in for many developers.
 */
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { parseConfig } from '../../lib/config/load.js'
import { BootError } from '../../lib/errors.js'
import { LOAD_TEST_MODEL, LOAD_TEST_NOTICE, deltasFor } from '../../lib/proxy/upstreams/load-test.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { startDevIdp } from '../../lib/dev/idp.js'
import { startGateway } from '../../workers/primary.js'
import { startFakeUpstream } from '../helpers/fake-upstream.js'
import { baseConfig, startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { freshDatabase } from '../helpers/pg.js'
import { AKID, SECRET } from '../proxy/upstreams/fakes.js'
import { eventually, READ_KEY, WRITE_KEY } from './spend-helpers.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const AUTH = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const body = (model: string, stream = true): string => JSON.stringify({ model, max_tokens: 256, stream, messages: [{ role: 'user', content: 'hi' }] })
const post = async (url: string, b: string, headers: Record<string, string> = {}, path = '/v1/messages') => await req(`${url}${path}`, { method: 'POST', headers: { ...AUTH, ...headers }, body: b })

/** The text deltas of an SSE body, and whether it ended with message_stop. */
function deltas (sse: string): { texts: string[], stopped: boolean, model: string | undefined } {
  const texts: string[] = []
  let model: string | undefined
  for (const line of sse.split('\n')) {
    if (!line.startsWith('data: ')) continue
    const e = JSON.parse(line.slice(6)) as { type: string, delta?: { text?: string }, message?: { model?: string } }
    if (e.type === 'content_block_delta' && typeof e.delta?.text === 'string') texts.push(e.delta.text)
    if (e.type === 'message_start') model = e.message?.model
  }
  return { texts, stopped: sse.includes('event: message_stop'), model }
}

t.test('every provider answers with the canned reply; nothing reaches an upstream; spend is zero', async (t) => {
  const fake = await startFakeUpstream(() => ({ kind: 'json', status: 500, body: { error: 'must not be called' } }))
  t.teardown(() => fake.close())
  const TOKENS = 30
  const SECONDS = 0.6
  const { url, dbUrl } = await startTestGateway(t, {
    config: (c) => {
      c.upstreams = [
        { provider: 'bedrock', name: 'bedrock', region: 'us-east-1', base_url: fake.url, auth: { aws_access_key_id: AKID, aws_secret_access_key: SECRET }, models: ['claude-haiku-4-5'] },
        { provider: 'vertex', name: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${fake.url}/v1`, auth: { access_token: 'ya29.vertex' }, models: ['claude-sonnet-4-5'] },
        { provider: 'anthropic', name: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-test' } },
      ]
      c.admin = { write_keys: [{ id: 'terraform', key: WRITE_KEY }], read_keys: [{ id: 'dash', key: READ_KEY }] }
      c.load_test_mode = { enabled: true, reply_tokens: TOKENS, reply_seconds: SECONDS }
    },
  })
  const n = deltasFor(TOKENS)
  t.equal(n, 10)

  for (const model of ['claude-haiku-4-5', 'claude-sonnet-4-5', 'claude-opus-4-1']) {
    const t0 = performance.now()
    const r = await post(url, body(model))
    const ms = performance.now() - t0
    t.equal(r.status, 200, `${model}: 200`)
    t.match(r.headers['content-type'], /^text\/event-stream/, `${model}: SSE to the client`)
    const d = deltas(r.text)
    t.equal(d.texts.length, n, `${model}: ceil(reply_tokens / 3) deltas`)
    t.equal(d.texts[0], LOAD_TEST_NOTICE, `${model}: the first delta says the reply is canned`)
    t.ok(d.stopped, `${model}: the stream ends with message_stop`)
    t.equal(d.model, LOAD_TEST_MODEL)
    // The last frame is scheduled at start + reply_seconds: a lower bound that holds under any load.
    t.ok(ms >= SECONDS * 1000 - 20, `${model}: the reply took at least reply_seconds (${Math.round(ms)} ms)`)
  }

  const j = await post(url, body('claude-sonnet-4-5', false))
  t.equal(j.status, 200)
  const msg = j.json()
  t.equal(msg.model, LOAD_TEST_MODEL)
  t.same(msg.usage, { input_tokens: 0, output_tokens: 0 })
  t.ok((msg.content[0].text as string).startsWith(LOAD_TEST_NOTICE), 'non-streaming: one JSON message')

  for (const model of ['claude-haiku-4-5', 'claude-sonnet-4-5', 'claude-opus-4-1']) {
    const c = await post(url, body(model, false), {}, '/v1/messages/count_tokens')
    t.equal(c.status, 200, `${model}: count_tokens 200`)
    t.same(c.json(), { input_tokens: 0 }, `${model}: a zero count`)
  }

  // x-load-test-user: a made-up developer per number; anything else is refused.
  for (const bad of ['abc', '12345678', '-1', '1.5', '']) {
    const r = await post(url, body('claude-opus-4-1'), { 'x-load-test-user': bad })
    t.equal(r.status, 400, `x-load-test-user ${JSON.stringify(bad)}: 400`)
    t.equal(r.json().error.type, 'invalid_request_error')
    t.match(r.json().error.message, /x-load-test-user must be a whole number of at most 7 digits/)
  }
  t.equal((await post(url, body('claude-opus-4-1'), { 'x-load-test-user': '0042' })).status, 200)
  t.equal((await post(url, body('claude-opus-4-1'), { 'x-load-test-user': '7' })).status, 200)


  // A streamed reply the client drops part-way: the gateway lets it go and meters the developer.
  const cut = await request(`${url}/v1/messages`, { method: 'POST', headers: { ...AUTH, 'x-load-test-user': '9' }, body: body('claude-opus-4-1') })
  let got = 0
  for await (const chunk of cut.body) { got += (chunk as Buffer).length; if (got > 700) break }
  cut.body.destroy()

  t.equal(fake.requests.length, 0, 'no request reached any upstream server')

  const { default: postgres } = await import('postgres')
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  const seen = await eventually(async () => {
    const r = await sql<Array<{ principal: string }>>`select principal from principal_emails order by principal`
    return r.length >= 4 ? r.map((x) => x.principal) : null
  }, 'the metered developers')
  t.same(seen, ['u-alice', 'u-alice+loadtest-42', 'u-alice+loadtest-7', 'u-alice+loadtest-9'], 'each x-load-test-user is metered as its own developer')
})

t.test('a client that hangs up mid-reply is let go; the stream is paced, not sent at once', async (t) => {
  const { url } = await startTestGateway(t, { config: (c) => { c.load_test_mode = { enabled: true, reply_tokens: 3000, reply_seconds: 30 } } })
  const t0 = performance.now()
  const r = await request(`${url}/v1/messages`, { method: 'POST', headers: AUTH, body: body('claude-opus-4-1') })
  t.equal(r.statusCode, 200)
  const it = r.body[Symbol.asyncIterator]()
  const first = await it.next()
  t.ok(first.done !== true, 'the first frames arrive long before reply_seconds')
  t.ok(performance.now() - t0 < 25_000)
  await it.return?.()
  r.body.destroy()
  // The gateway still answers (the aborted reply released its timer and its slot).
  const again = await post(url, body('claude-opus-4-1', false))
  t.equal(again.status, 200)
})

t.test('boot: refused when the database already holds real spend; the warning says the mode is on', async (t) => {
  const db = await freshDatabase(t, { migrate: true })
  await db.sql`insert into spend (principal, period, cents, micro_cents) values ('u-real', '2026-12', 0.5, 500000)`
  const idp = await startDevIdp({ users: [], clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  t.teardown(() => idp.close())
  const cfg = baseConfig(idp.issuer, db.url)
  cfg.load_test_mode = { enabled: true }
  const loaded = parseConfig(stringify(cfg), 'gateway.yaml', process.env)
  t.ok(loaded.warnings.some((w) => /load_test_mode\.enabled: load_test_mode is on: every model request is answered with a canned reply/.test(w)), 'boot warning')
  t.same(loaded.config.load_test_mode, { enabled: true, reply_tokens: 750, reply_seconds: 9.5 }, 'the reference defaults')
  const err = await startGateway(loaded, { workers: 1 }).then(async (gw) => { await gw.stop(); return null }, (e: unknown) => e)
  t.ok(err instanceof BootError, 'boot refused')
  t.match((err as BootError).lines.join('\n'), /already holds real spend/)

  await db.sql`update spend set cents = 0, micro_cents = 0`
  const gw = await startGateway(loaded, { workers: 1 })
  t.teardown(() => gw.stop())
  const r = await post(gw.url, body('claude-opus-4-1', false))
  t.equal(r.status, 200, 'boots on a database with only zero-cost rows')
  t.equal(r.json().model, LOAD_TEST_MODEL)

  const off = baseConfig(idp.issuer, db.url)
  off.load_test_mode = { enabled: false }
  t.same(parseConfig(stringify(off), 'gateway.yaml', process.env).warnings.filter((w) => w.includes('load_test_mode')), [], 'no warning when off')
})
