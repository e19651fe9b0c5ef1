/**
 * Customer-routed inference through a real gateway (worker threads, Postgres, sockets), configured
 * without oidc: discovery and /protocol say CRI is on; a cri+jwt is admitted while the issuer's keys
 * can be had (503 with retry-after 30 before that); its requests skip managed-policy model checks
 * and spend metering, pass the content-policy webhook (which can block them), get generic upstream
 * error bodies and no identity headers; session bearers keep their usual treatment.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import postgres from 'postgres'
import { bucketKey } from '../../lib/metering/periods.js'
import { startFakeUpstream, simpleStream } from '../helpers/fake-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { BODY, MODEL, ONE_CENT, bearer, eventually, post, spendConfig } from '../integration/spend-helpers.js'
import { AUDIENCE, makeKey, ORG, startIssuer } from './issuer.js'

t.setTimeout(240_000)

interface Screened { headers: IncomingMessage['headers'], body: { path: string, query: string, headers: Record<string, string>, body: { messages?: Array<{ content: string }> } } }

async function startWebhook (): Promise<{ url: string, seen: Screened[], close: () => Promise<void> }> {
  const seen: Screened[] = []
  const server = createServer((rq, res) => {
    const chunks: Buffer[] = []
    rq.on('data', (c: Buffer) => chunks.push(c))
    rq.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Screened['body']
      seen.push({ headers: rq.headers, body })
      const text = JSON.stringify(body.body)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(text.includes('forbidden-word') ? { block: true, reason: 'mentions a forbidden word', rule_id: 'r-7' } : { block: false }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/screen`, seen, close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) } }
}

t.test('a CRI-only gateway end to end', async (t) => {
  const iss = await startIssuer()
  t.teardown(() => iss.close())
  const key = await makeKey('k1')
  iss.published = [key]
  iss.down = true
  const hook = await startWebhook()
  t.teardown(() => hook.close())
  const fake = await startFakeUpstream((r) => {
    if (r.body.toString().includes('make-it-fail')) return { kind: 'json', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'internal detail: tenant 42 quota table' } } }
    return { kind: 'sse', frames: simpleStream('hi', ONE_CENT) }
  })
  t.teardown(() => fake.close())
  const { url, dbUrl } = await startTestGateway(t, {
    config: (c) => {
      spendConfig(c, fake)
      delete c.oidc
      c.upstreams[0].forward_user_identity = true
      c.upstreams[0].models = [MODEL, 'claude-sonnet-4-5']
      c.upstreams.push({ provider: 'foundry', name: 'foundry', resource: 'corp-ai', base_url: `${fake.url}/anthropic/`, auth: { api_key: 'az-key' }, models: ['claude-opus-4-5'] })
      c.managed = { policies: [{ match: {}, cli: { availableModels: ['sonnet', 'opus'] } }] }
      c.cri = { enabled: true, audience: [AUDIENCE], issuer: iss.issuer, jwks_url: iss.url, org_allowlist: [ORG], policy: { webhook: { url: hook.url } } }
    },
  })
  const cri = await iss.mint(key, { sub: 'cri-user-1', act: { sub: 'person@customer.example' } })

  await t.test('issuer keys unavailable: 503 api_error, retry-after 30', async (t) => {
    const r = await post(url, cri)
    t.equal(r.status, 503)
    t.equal(r.headers['retry-after'], '30')
    t.equal(r.json().error.type, 'api_error')
    t.match(r.json().error.message, /^customer-routed inference is temporarily unavailable: /)
    t.equal(fake.requests.length, 0, 'nothing sent upstream')
  })
  iss.down = false
  await new Promise((resolve) => setTimeout(resolve, 5_200)) // the per-worker failure backoff

  await t.test('discovery and /protocol say CRI is on; sign-in is off', async (t) => {
    const d = (await req(`${url}/.well-known/oauth-authorization-server`)).json()
    t.equal(d.cri_enabled, true)
    t.equal(d.token_endpoint, undefined, 'no oidc: no sign-in endpoints')
    const p = await req(`${url}/protocol`)
    t.match(p.text, /## Customer-routed inference/)
  })

  await t.test('admitted: streamed, no managed-policy check, no spend headers, no identity headers, screened', async (t) => {
    const r = await post(url, cri)
    t.equal(r.status, 200, r.text.slice(0, 300))
    t.match(r.text, /message_stop/)
    t.equal(r.headers['anthropic-ratelimit-unified-status'], undefined)
    t.equal(r.headers['x-cri-upstream-kind'], undefined, 'anthropic upstream: not marked cloud')
    const up = fake.requests.at(-1)
    t.equal(up?.headers['x-claude-gateway-user-id'], undefined, 'identity headers not forwarded for CRI')
    t.same(JSON.parse(up?.body.toString() ?? '{}'), JSON.parse(BODY), 'same JSON upstream (re-serialised)')
    const s = hook.seen.at(-1)
    t.equal(s?.headers['x-principal-sub'], 'cri-user-1')
    t.ok(typeof s?.headers['x-request-id'] === 'string' && s.headers['x-request-id'] !== '')
    t.equal(s?.body.path, '/v1/messages')
    t.equal(s?.body.headers.authorization, undefined, 'the bearer is never sent to the webhook')
    t.equal(s?.body.body.messages?.[0]?.content.length, 10_000)
  })

  await t.test('a session bearer on the same gateway is still policy-checked and metered', async (t) => {
    const alice = bearer('u-alice', ['eng'])
    const denied = await post(url, alice)
    t.equal(denied.status, 400, 'haiku is outside the catch-all availableModels')
    const sonnet = await post(url, alice, BODY.replace(MODEL, 'claude-sonnet-4-5'))
    t.equal(sonnet.status, 200)
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
    t.teardown(() => sql.end({ timeout: 1 }))
    const bucket = bucketKey('daily', Date.now())
    await eventually(async () => (await sql`select 1 from spend where principal = 'u-alice' and period = ${bucket}`).length > 0, 'alice metered')
    const rows = await sql`select principal from spend where principal like 'cri%'`
    t.same(rows.length, 0, 'no spend row for the CRI principal')
  })

  await t.test('content policy webhook blocks: 400 policy_blocked, x-should-retry false', async (t) => {
    const before = fake.requests.length
    const r = await post(url, cri, JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'a forbidden-word here' }] }))
    t.equal(r.status, 400)
    t.equal(r.headers['x-should-retry'], 'false')
    t.same(r.json().error, { type: 'policy_blocked', message: 'blocked by content policy: mentions a forbidden word' })
    t.equal(fake.requests.length, before, 'not sent upstream')
  })

  await t.test('upstream error bodies are replaced by generic ones', async (t) => {
    const r = await post(url, cri, JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'make-it-fail' }] }))
    t.equal(r.status, 400)
    t.equal(r.json().error.type, 'invalid_request_error')
    t.notMatch(r.text, /tenant 42/, 'upstream words withheld')
    const s = await post(url, bearer('u-bob'), JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'make-it-fail' }] }))
    t.match(s.text, /tenant 42/, 'a session client still sees the Anthropic API error as is')
  })

  await t.test('a cloud upstream: x-cri-upstream-kind: cloud, generic errors', async (t) => {
    const ok = await post(url, cri, BODY.replace(MODEL, 'claude-opus-4-5'))
    t.equal(ok.status, 200, ok.text.slice(0, 300))
    t.equal(ok.headers['x-cri-upstream-kind'], 'cloud')
    t.match(fake.requests.at(-1)?.url ?? '', /^\/anthropic\/v1\/messages/, 'served by foundry')
    const bad = await post(url, cri, JSON.stringify({ model: 'claude-opus-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'make-it-fail' }] }))
    t.equal(bad.status, 400)
    t.equal(bad.headers['x-cri-upstream-kind'], 'cloud')
    t.notMatch(bad.text, /tenant 42/)
    const session = await post(url, bearer('u-bob'), BODY.replace(MODEL, 'claude-opus-4-5'))
    t.equal(session.status, 200, 'a session client is served by the same cloud upstream')
    t.equal(session.headers['x-cri-upstream-kind'], undefined, 'only CRI answers are marked')
  })

  await t.test('refused tokens: 401 invalid token', async (t) => {
    for (const tok of [await iss.mint(key, { aud: 'other' }), await iss.mint(key, { scope: 'admin' }), await iss.mint(await makeKey('k-unknown'))]) {
      const r = await post(url, tok)
      t.equal(r.status, 401)
      t.equal(r.json().error.message, 'invalid token')
    }
  })
})
