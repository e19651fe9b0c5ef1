/**
 * Process-level behaviour: a crashed worker is replaced while the others keep serving, readiness
 * follows Postgres (down and back), HTTPS with SSLApp, and shutdown closes the port.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { startTestGateway } from '../helpers/gateway.js'
import { raw, req } from '../helpers/http.js'
import { startPrivatePostgres } from '../helpers/pg.js'

process.env.WEIR_TEST_HOOKS = '1'

async function until (what: string, fn: () => Promise<boolean>, ms = 15000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (await fn().catch(() => false)) return
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('a crashed worker is replaced; the process keeps serving', async (t) => {
  const { gw, url } = await startTestGateway(t, { workers: 2 })
  const before = gw.workers()
  t.equal(before.length, 2)
  const victim = before[0]
  const exited = new Promise<number>((resolve) => victim?.once('exit', resolve))
  victim?.postMessage({ t: 'test-crash' })
  t.equal(await exited, 1, 'the worker died')
  // the survivor serves while the replacement starts
  t.equal((await raw(gw.port, 'GET /healthz HTTP/1.1\nHost: x')).status, 200)
  await until('a replacement worker', async () => gw.workers()[0] !== victim)
  await gw.whenListening()
  const results = await Promise.all(Array.from({ length: 20 }, async () => (await req(`${url}/healthz`)).status))
  t.same(results, Array(20).fill(200))
})

t.test('readiness flips when Postgres stops and recovers when it returns', async (t) => {
  const pg = await startPrivatePostgres()
  t.teardown(() => pg.destroy())
  const { url } = await startTestGateway(t, { dbUrl: pg.url })
  t.equal((await req(`${url}/readyz`)).status, 200)
  await pg.stop()
  await until('readyz 503', async () => (await req(`${url}/readyz`)).status === 503)
  const down = await req(`${url}/readyz`)
  t.equal(down.json().error.type, 'api_error')
  t.equal((await req(`${url}/healthz`)).status, 200, 'liveness is unaffected')
  await pg.start()
  await until('readyz 200 again', async () => (await req(`${url}/readyz`)).status === 200)
  t.pass('ready again')
})

t.test('store.readiness_grace_seconds keeps a replica ready through a short store outage', async (t) => {
  const pg = await startPrivatePostgres()
  t.teardown(() => pg.destroy())
  const { url } = await startTestGateway(t, { dbUrl: pg.url, config: (c) => { c.store.readiness_grace_seconds = 60 } })
  t.equal((await req(`${url}/readyz`)).status, 200)
  await pg.stop()
  // /readyz answers synchronously from a store state pinged every second: watch it until the
  // outage is seen, and require every answer on the way (before and after) to be ready.
  const statuses: number[] = []
  await until('readyz reports the outage within grace', async () => {
    const during = await req(`${url}/readyz`)
    statuses.push(during.status)
    return /grace/.test(during.text)
  })
  t.ok(statuses.every((s) => s === 200), `still ready inside the grace period (${statuses.join(',')})`)
  await pg.start()
})

t.test('listen.tls serves HTTPS with HSTS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-tls-'))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const { gw } = await startTestGateway(t, { config: (c) => { c.listen.tls = { cert, key } } })
  t.match(gw.url, /^https:/)
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } })
  t.teardown(() => dispatcher.close())
  const r = await request(`${gw.url}/healthz`, { dispatcher })
  t.equal(r.statusCode, 200)
  t.equal(await r.body.text(), 'ok')
  t.equal(r.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
})

t.test('unreadable TLS files fail boot with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-tls-'))
  writeFileSync(join(dir, 'cert.pem'), 'x')
  await t.rejects(startTestGateway(t, { config: (c) => { c.listen.tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'missing.pem') } } }),
    /listen\.tls: cannot read .*missing\.pem/)
})

t.test('stop() drains and closes the port', async (t) => {
  const { gw } = await startTestGateway(t, { workers: 2 })
  t.equal((await raw(gw.port, 'GET /healthz HTTP/1.1\nHost: x')).status, 200)
  await gw.stop()
  await t.rejects(raw(gw.port, 'GET /healthz HTTP/1.1\nHost: x'), /ECONNREFUSED/)
  await gw.stop()
  t.pass('stop is idempotent')
})

t.test('graceful drain: in-flight streams finish, new connections are refused', async (t) => {
  const { gw, url } = await startTestGateway(t, { workers: 2, drainTimeoutMs: 10_000, config: (c) => { c.upstreams = [{ provider: 'mock', delay_ms: 150, events: 8 }] } })
  const { keyRing, mintToken } = await import('../../lib/session/token.js')
  const { TEST_SECRET } = await import('../helpers/gateway.js')
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice' }, { ttlHours: 1 }).token
  const r = await request(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ model: 'claude-haiku-4-5', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'drain me' }] }) })
  t.equal(r.statusCode, 200)
  const it = r.body[Symbol.asyncIterator]()
  let text = String((await it.next()).value)
  const stopping = gw.stop()
  await new Promise((resolve) => setTimeout(resolve, 200))
  await t.rejects(raw(gw.port, 'GET /healthz HTTP/1.1\nHost: x'), /ECONNREFUSED/, 'the listen sockets closed first')
  for (let n = await it.next(); n.done !== true; n = await it.next()) text += String(n.value)
  t.match(text, /event: message_stop/, 'the in-flight stream ran to its end')
  await stopping
})

t.test('drain deadline: a stream that outlives it is cut, shutdown still completes', async (t) => {
  const { gw, url } = await startTestGateway(t, { workers: 1, drainTimeoutMs: 500, config: (c) => { c.upstreams = [{ provider: 'mock', delay_ms: 1000, events: 20 }] } })
  const { keyRing, mintToken } = await import('../../lib/session/token.js')
  const { TEST_SECRET } = await import('../helpers/gateway.js')
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice' }, { ttlHours: 1 }).token
  const r = await request(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ model: 'claude-haiku-4-5', stream: true, max_tokens: 10, messages: [] }) })
  const t0 = Date.now()
  await gw.stop()
  t.ok(Date.now() - t0 < 5000, 'stop() returned soon after the deadline')
  await t.rejects((async () => { for await (const _ of r.body) { /* drain */ } })(), 'the long stream was cut')
})
