/**
 * SSRF: every spelling of a loopback, unspecified, metadata or link-local destination is refused
 * at config validation and at connect time, on every outbound path, unless the operator allows
 * loopback (CLAUDE_GATEWAY_ALLOW_LOOPBACK) — and metadata is never reachable except by a cloud
 * credential source's own metadata call.
 *
 * The connect-time checks use a real listener on 127.0.0.1 that counts accepted connections: a
 * refused spelling must produce an ECONNREFUSED_SSRF error AND zero connections.
 */
import http from 'node:http'
import type { LookupAddress } from 'node:dns'
import { createServer, type Server } from 'node:net'
import t from 'tap'
import { stringify } from 'yaml'
import type { Dispatcher } from 'undici'
import { IdpHttp } from '../../lib/auth/idp-http.js'
import { call } from '../../lib/cloud/http.js'
import { parseConfig } from '../../lib/config/load.js'
import { urlProblem, withEnv } from '../../lib/config/schema/urls.js'
import { parseAddr } from '../../lib/net/cidr.js'
import { classifyAddr } from '../../lib/net/ranges.js'
import { guardedAgent, guardedConnector, guardedHttpAgent, guardedLookup, type Resolver } from '../../lib/net/ssrf.js'
import { upstreamDispatcher } from '../../lib/proxy/upstreams/anthropic.js'

/** A TCP listener that answers any request with a tiny HTTP 200 and counts connections. */
async function listener (host: string): Promise<{ server: Server, port: number, count: () => number } | null> {
  let n = 0
  const server = createServer((s) => {
    n++
    s.on('error', () => {})
    s.once('data', () => { s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok') })
  })
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, () => { resolve() }) })
  } catch { return null }
  const a = server.address()
  return { server, port: typeof a === 'object' && a !== null ? a.port : 0, count: () => n }
}

// Every way to write a loopback/unspecified address in a URL. WHATWG parsing normalises the IPv4
// spellings to dotted form, so the connect sees 127.0.0.1; the IPv6 ones stay IPv6.
const V4_LOOPBACK = ['127.0.0.1', '2130706433', '0x7f000001', '0177.0.0.1', '017700000001', '0x7f.1', '127.1', '127.0.1', '127.000.000.001', '127.0.0.1.', '127.255.255.254', '0', '0.0.0.0']
const V6_LOOPBACK = ['[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]', '[::127.0.0.1]', '[::7f00:1]', '[64:ff9b::127.0.0.1]', '[2002:7f00:1::]', '[::]', '[::ffff:0.0.0.0]']
const METADATA = ['169.254.169.254', '2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '169.254.43518', '169.254.170.2', '100.100.100.200', '168.63.129.16', '0.0.0.1',
  '[fe80::1]', '[fd00:ec2::254]', '[fd00:ec2::23]', '[::ffff:169.254.169.254]', '[::ffff:a9fe:a9fe]', '[::169.254.169.254]', '[64:ff9b::169.254.169.254]', '[64:ff9b:1::a9fe:a9fe]', '[2002:a9fe:a9fe::]']
const ALLOWED = ['10.0.0.1', '192.168.1.10', '172.16.0.1', '100.64.0.1', '[fd12:3456::1]', '[fc00::1]', '93.184.216.34', '[2606:4700::1111]', '[::ffff:10.0.0.1]']

t.test('config validation: every loopback spelling needs CLAUDE_GATEWAY_ALLOW_LOOPBACK', async (t) => {
  for (const h of [...V4_LOOPBACK, ...V6_LOOPBACK]) {
    const url = `http://${h}:8080/`
    t.match(withEnv({}, () => urlProblem(url, 'env')), /literal loopback address/, `${url} refused without the variable`)
    t.equal(withEnv({ CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }, () => urlProblem(url, 'env')), null, `${url} allowed with it`)
  }
})

t.test('config validation: metadata and link-local in every spelling are refused, always', async (t) => {
  for (const h of METADATA) {
    const url = `https://${h}/latest/meta-data`
    for (const env of [{}, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }]) {
      t.match(withEnv(env, () => urlProblem(url, 'env')), /cloud metadata/, `${url} refused (${JSON.stringify(env)})`)
      t.match(withEnv(env, () => urlProblem(url, 'allow')), /cloud metadata/, `${url} refused as an upstream base URL too`)
    }
  }
  for (const name of ['metadata.google.internal', 'METADATA.GOOGLE.INTERNAL.', 'metadata', 'instance-data']) {
    t.match(withEnv({}, () => urlProblem(`http://${name}/`, 'allow')), /cloud metadata/, name)
  }
})

t.test('config validation: private, unique-local and public addresses pass', async (t) => {
  for (const h of ALLOWED) t.equal(withEnv({}, () => urlProblem(`https://${h}/`, 'env')), null, h)
})

t.test('config validation through the loader: the IdP issuer and upstream base URLs', async (t) => {
  const cfg = (issuer: string, base: string): string => stringify({
    listen: { host: '127.0.0.1', port: 0 },
    oidc: { issuer, client_id: 'c', client_secret: 's' },
    session: { jwt_secret: 'x'.repeat(40) },
    store: { postgres_url: 'postgres://u@db.internal/weir' },
    upstreams: [{ provider: 'anthropic', base_url: base, auth: { api_key: 'k' } }],
  })
  const parse = (text: string, env: NodeJS.ProcessEnv): string => { try { parseConfig(text, 'gateway.yaml', env); return 'ok' } catch (err) { return String((err as Error).message) } }
  for (const h of ['[::127.0.0.1]', '[64:ff9b::7f00:1]', '0x7f.1', '[::ffff:7f00:1]']) {
    t.match(parse(cfg(`http://${h}:9000`, 'https://api.example.com'), {}), /loopback/, `issuer ${h} refused without the variable`)
    t.equal(parse(cfg(`http://${h}:9000`, 'https://api.example.com'), { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }), 'ok', `issuer ${h} accepted with it`)
  }
  for (const h of ['[::169.254.169.254]', '[64:ff9b::a9fe:a9fe]', '[2002:a9fe:a9fe::]', '2852039166', '[fd00:ec2::254]']) {
    t.match(parse(cfg('https://idp.example.com', `http://${h}`), { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }), /metadata/, `upstream base_url ${h} refused`)
  }
})

t.test('the classifier unwraps every IPv6 form that carries IPv4', async (t) => {
  const cls = (s: string): string | null => { const a = parseAddr(s); return a === null ? 'unparsed' : classifyAddr(a) }
  t.equal(cls('::ffff:127.0.0.1'), 'loopback', 'mapped')
  t.equal(cls('::127.0.0.1'), 'loopback', 'compatible')
  t.equal(cls('64:ff9b::7f00:1'), 'loopback', 'NAT64')
  t.equal(cls('2002:7f00:1::5'), 'loopback', '6to4')
  t.equal(cls('64:ff9b::a9fe:a9fe'), 'metadata', 'NAT64 metadata')
  t.equal(cls('2002:a9fe:a9fe:1::'), 'metadata', '6to4 metadata')
  t.equal(cls('::a9fe:a9fe'), 'metadata', 'compatible metadata')
  t.equal(cls('::2'), null, '::2 is not loopback')
  t.equal(cls('64:ff9b::808:808'), null, 'NAT64 of a public address')
  t.equal(cls('2002:0a00:0001::'), null, '6to4 of a private address')
})

/** Run `attempt` against a counting listener and return its error (or null) and the connections seen. */
async function probe (l: { count: () => number }, attempt: () => Promise<unknown>): Promise<{ err: unknown, seen: number }> {
  const before = l.count()
  let err: unknown = null
  try { await attempt() } catch (e) { err = e }
  await new Promise((resolve) => setTimeout(resolve, 20))
  return { err, seen: l.count() - before }
}
const ssrfText = (e: unknown): string => {
  const x = e as { code?: string, message?: string, cause?: { code?: string, message?: string } } | null
  return [x?.code, x?.message, x?.cause?.code, x?.cause?.message].filter(Boolean).join(' ')
}

t.test('connect time: a literal loopback is never dialled unless allowed', async (t) => {
  const l4 = await listener('127.0.0.1')
  if (l4 === null) { t.fail('cannot listen on 127.0.0.1'); return }
  t.teardown(() => { l4.server.close() })
  const l6 = await listener('::1')
  if (l6 !== null) t.teardown(() => { l6.server.close() })
  const blocked = guardedAgent({ allowLoopback: false, connectTimeout: 2_000 })
  const allowed = guardedAgent({ allowLoopback: true, connectTimeout: 2_000 })
  t.teardown(async () => { await blocked.close(); await allowed.close() })
  const get = async (agent: Dispatcher, url: string): Promise<void> => {
    const r = await agent.request({ origin: new URL(url).origin, path: '/', method: 'GET' })
    await r.body.text()
  }
  for (const h of [...V4_LOOPBACK, ...V6_LOOPBACK]) {
    const v6 = h.startsWith('[') && !/(ffff|127\.|7f00|0\.0\.0)/.test(h) && h !== '[::]'
    const l = v6 ? l6 : l4
    if (l === null) continue
    const url = `http://${h}:${l.port}/`
    const r = await probe(l, async () => { await get(blocked, url) })
    t.match(ssrfText(r.err), /ECONNREFUSED_SSRF/, `${url}: refused`)
    t.equal(r.seen, 0, `${url}: the listener saw no connection`)
  }
  // with the variable set the same spellings connect (those the kernel routes to this listener)
  for (const h of ['127.0.0.1', '2130706433', '0x7f.1', '127.1', '0177.0.0.1', '0.0.0.0']) {
    const url = `http://${h}:${l4.port}/`
    const r = await probe(l4, async () => { await get(allowed, url) })
    t.equal(r.err, null, `${url}: allowed with CLAUDE_GATEWAY_ALLOW_LOOPBACK`)
    t.equal(r.seen, 1, `${url}: connected once`)
  }
  if (l6 !== null) {
    const r = await probe(l6, async () => { await get(allowed, `http://[::1]:${l6.port}/`) })
    t.equal(r.seen, 1, '[::1] allowed with the variable')
  }
})

t.test('connect time: metadata literals are refused even with loopback allowed', async (t) => {
  const allowed = guardedAgent({ allowLoopback: true, connectTimeout: 2_000 })
  t.teardown(async () => { await allowed.close() })
  for (const h of METADATA) {
    const url = `http://${h}/latest/meta-data/`
    let err: unknown = null
    try { await allowed.request({ origin: new URL(url).origin, path: '/', method: 'GET' }) } catch (e) { err = e }
    t.match(ssrfText(err), /ECONNREFUSED_SSRF: blocked \(cloud metadata/, `${url}: refused before dialling`)
  }
})

t.test('DNS answers in blocked ranges are refused, mapped and translated forms included', async (t) => {
  const answers: Record<string, LookupAddress[]> = {
    'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
    'compat.test': [{ address: '::7f00:1', family: 6 }],
    'nat64.test': [{ address: '64:ff9b::a9fe:a9fe', family: 6 }],
    'sixtofour.test': [{ address: '2002:a9fe:a9fe::1', family: 6 }],
    'mixed.test': [{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }],
    'unspec.test': [{ address: '0.0.0.0', family: 4 }],
    'ok.test': [{ address: '10.1.2.3', family: 4 }, { address: 'fd12::1', family: 6 }],
  }
  const resolver: Resolver = (host, cb) => { const a = answers[host]; if (a === undefined) cb(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), []); else cb(null, a) }
  const look = async (host: string, allow: boolean): Promise<string> => await new Promise((resolve) => {
    guardedLookup(allow, resolver)(host, {}, (err, addr) => { resolve(err !== null ? String(err.message) : String(addr)) })
  })
  for (const h of ['mapped.test', 'compat.test', 'unspec.test']) t.match(await look(h, false), /ECONNREFUSED_SSRF: blocked \(loopback\)/, h)
  for (const h of ['nat64.test', 'sixtofour.test', 'mixed.test']) t.match(await look(h, true), /ECONNREFUSED_SSRF: blocked \(cloud metadata/, `${h} even with loopback allowed`)
  t.equal(await look('ok.test', false), '10.1.2.3', 'private answers pass, pinned to the first IPv4')
  t.match(await look('metadata.google.internal', true), /cloud metadata host/, 'metadata names refused before resolving')

  // a name that resolves to a mapped loopback never reaches the listener through a connector
  const l = await listener('127.0.0.1')
  if (l === null) { t.fail('cannot listen'); return }
  t.teardown(() => { l.server.close() })
  const connect = guardedConnector({ allowLoopback: false, timeout: 2_000, resolve: resolver })
  const r = await probe(l, async () => await new Promise<void>((resolve, reject) => {
    connect({ hostname: 'mapped.test', protocol: 'http:', port: String(l.port) }, (...args) => { if (args[0] !== null) reject(args[0]); else { args[1].destroy(); resolve() } })
  }))
  t.match(ssrfText(r.err), /ECONNREFUSED_SSRF/)
  t.equal(r.seen, 0, 'no connection')
  // and the real resolver: localhost is refused too
  const sys = await new Promise<string>((resolve) => { guardedLookup(false)('localhost', {}, (err, a) => { resolve(err !== null ? err.message : String(a)) }) })
  t.match(sys, /ECONNREFUSED_SSRF: blocked \(loopback\): localhost/)
})

t.test('every outbound path applies the guard', async (t) => {
  const l = await listener('127.0.0.1')
  if (l === null) { t.fail('cannot listen'); return }
  t.teardown(() => { l.server.close() })
  const spellings = ['127.0.0.1', '2130706433', '[::ffff:127.0.0.1]', '0.0.0.0']

  t.test('upstream pool', async (t) => {
    for (const h of spellings) {
      const pool = upstreamDispatcher(new URL(`http://${h}:${l.port}`), { ttfbMs: 2_000, env: {} }) as unknown as Dispatcher
      const r = await probe(l, async () => { const res = await pool.request({ path: '/v1/messages', method: 'POST', body: '{}' }); await res.body.text() })
      await pool.close()
      t.match(ssrfText(r.err), /ECONNREFUSED_SSRF/, `${h} refused`)
      t.equal(r.seen, 0, `${h}: no connection`)
    }
    const pool = upstreamDispatcher(new URL(`http://127.0.0.1:${l.port}`), { ttfbMs: 2_000, env: { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' } }) as unknown as Dispatcher
    const r = await probe(l, async () => { const res = await pool.request({ path: '/', method: 'GET' }); await res.body.text() })
    await pool.close()
    t.equal(r.err, null, 'allowed with the variable')
    t.equal(r.seen, 1)
  })

  t.test('identity provider', async (t) => {
    const idp = new IdpHttp({}, {})
    t.teardown(async () => { await idp.close() })
    for (const h of spellings) {
      const r = await probe(l, async () => await idp.request(`http://${h}:${l.port}/token`, { form: new URLSearchParams({ a: 'b' }) }))
      t.match(ssrfText(r.err), /ECONNREFUSED_SSRF/, `${h} refused`)
      t.equal(r.seen, 0, `${h}: no connection`)
    }
    const ok = new IdpHttp({}, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' })
    const r = await probe(l, async () => await ok.request(`http://127.0.0.1:${l.port}/token`, {}))
    await ok.close()
    t.equal(r.err, null, 'allowed with the variable')
    t.equal(r.seen, 1)
  })

  t.test('telemetry collectors (undici relay agent and the OTLP exporter agent)', async (t) => {
    // the relay's destinations share guardedAgent (lib/telemetry/module.ts), exercised above;
    // the metrics exporter takes a node:http agent
    const agent = guardedHttpAgent(http.Agent, false, { keepAlive: true })
    t.teardown(() => { agent.destroy() })
    for (const h of spellings) {
      const u = new URL(`http://${h}:${l.port}/v1/metrics`)
      const r = await probe(l, async () => await new Promise<void>((resolve, reject) => {
        const req = http.request(u, { method: 'POST', agent }, (res) => { res.resume(); res.on('end', resolve) })
        req.on('error', reject)
        req.end('{}')
      }))
      t.match(ssrfText(r.err), /ECONNREFUSED_SSRF/, `${h} refused`)
      t.equal(r.seen, 0, `${h}: no connection`)
    }
    const named = await probe(l, async () => await new Promise<void>((resolve, reject) => {
      const req = http.request(`http://localhost:${l.port}/v1/metrics`, { agent }, (res) => { res.resume(); res.on('end', resolve) })
      req.on('error', reject)
      req.end()
    }))
    t.match(ssrfText(named.err), /ECONNREFUSED_SSRF/, 'localhost refused through the lookup')
    const open = guardedHttpAgent(http.Agent, true)
    const ok = await probe(l, async () => await new Promise<void>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${l.port}/v1/metrics`, { agent: open }, (res) => { res.resume(); res.on('end', resolve) })
      req.on('error', reject)
      req.end()
    }))
    open.destroy()
    t.equal(ok.err, null, 'allowed with the variable')
    t.equal(ok.seen, 1)
  })

  t.test('cloud credential calls: metadata only for the credential source that expects it', async (t) => {
    for (const h of ['169.254.169.254', '[fd00:ec2::254]', '[::ffff:169.254.169.254]', '2852039166', '169.254.170.2', 'metadata.google.internal']) {
      await t.rejects(call(`http://${h}/latest/api/token`, { method: 'PUT', timeoutMs: 1_000, env: {} }), /ECONNREFUSED_SSRF/, `${h}: an STS/Entra/token-exchange call may not go there`)
    }
    // the metadata call itself goes through (here to a local stand-in), and loopback STS emulators still work
    const md = await probe(l, async () => await call(`http://127.0.0.1:${l.port}/latest/api/token`, { method: 'PUT', timeoutMs: 2_000, env: {}, metadata: true }))
    t.equal(md.err, null)
    t.equal(md.seen, 1, 'a metadata call connects')
    const sts = await probe(l, async () => await call(`http://127.0.0.1:${l.port}/`, { method: 'POST', body: 'x', timeoutMs: 2_000, env: {} }))
    t.equal(sts.err, null)
    t.equal(sts.seen, 1, 'a loopback STS endpoint connects')
  })
})
