/**
 * The foundation's HTTP behaviour, over real sockets against a real gateway (worker threads,
 * Postgres, oidc-provider): ops endpoints, baseline headers, request ids, 404/405 envelopes,
 * framing limits (411/413/414/431), CIDR lists and trusted-proxy resolution.
 */
import t from 'tap'
import { VERSION } from '../../lib/version.js'
import { startTestGateway } from '../helpers/gateway.js'
import { raw, req } from '../helpers/http.js'

t.test('ops endpoints and baseline headers, from every worker', async (t) => {
  const { url, gw } = await startTestGateway(t, { workers: 2 })
  const h = await req(`${url}/healthz`)
  t.equal(h.status, 200)
  t.equal(h.text, 'ok')
  t.equal(h.headers['x-content-type-options'], 'nosniff')
  t.equal(h.headers['x-frame-options'], 'DENY')
  t.equal(h.headers['referrer-policy'], 'no-referrer')
  t.equal(h.headers['cross-origin-opener-policy'], 'same-origin')
  t.equal(h.headers['x-cc-gateway-version'], VERSION)
  t.notOk(h.headers['strict-transport-security'], 'no HSTS without TLS')
  t.match(h.headers['x-request-id'], /^[0-9a-f-]{36}$/)

  const echoed = await req(`${url}/healthz`, { headers: { 'x-client-request-id': 'abc.DEF_1-2' } })
  t.equal(echoed.headers['x-request-id'], 'abc.DEF_1-2', 'a well-formed client request id is kept')
  const replaced = await req(`${url}/healthz`, { headers: { 'x-client-request-id': 'bad id!' } })
  t.not(replaced.headers['x-request-id'], 'bad id!', 'a malformed one is replaced')

  const ready = await req(`${url}/readyz`)
  t.equal(ready.status, 200)
  t.equal(ready.text, 'ready')

  const landing = await req(`${url}/`)
  t.equal(landing.status, 200)
  t.match(landing.headers['content-type'], /text\/html/)
  t.match(landing.headers['content-security-policy'], /default-src 'none'/)
  t.match(landing.text, VERSION)
  t.match(landing.text, '/.well-known/oauth-authorization-server')

  const proto = await req(`${url}/protocol`)
  t.equal(proto.status, 200)
  t.match(proto.headers['content-type'], /text\/markdown/)
  t.match(proto.text, `Weir gateway protocol (Weir ${VERSION})`)
  t.match(proto.text, `${url}/oauth/device_authorization`)

  const disc = await req(`${url}/.well-known/oauth-authorization-server`)
  t.equal(disc.status, 200)
  const d = disc.json()
  t.equal(d.issuer, url, 'no public_url on loopback: the request origin is the base')
  t.equal(d.device_authorization_endpoint, `${url}/oauth/device_authorization`)
  t.equal(d.token_endpoint, `${url}/oauth/token`)
  t.equal(d.revocation_endpoint, `${url}/oauth/revoke`)
  t.same(d.grant_types_supported, ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'])
  t.equal(d.gateway_protocol_version, 1)
  t.notOk('authorization_endpoint' in d)
  const discPost = await req(`${url}/.well-known/oauth-authorization-server`, { method: 'POST' })
  t.equal(discPost.status, 200, 'any method')

  // Many fresh connections: the kernel spreads them over both workers; every one must succeed.
  const results = await Promise.all(Array.from({ length: 40 }, async () => (await raw(gw.port, 'GET /healthz HTTP/1.1\nHost: x')).status))
  t.same(results, Array(40).fill(200))
})

t.test('unknown routes and methods get envelopes', async (t) => {
  const { url } = await startTestGateway(t)
  const nf = await req(`${url}/nope`)
  t.equal(nf.status, 404)
  const body = nf.json()
  t.same(body.error, { type: 'not_found_error', message: 'not found' })
  t.equal(body.type, 'error')
  t.equal(body.request_id, nf.headers['x-request-id'])
  const nfBearer = await req(`${url}/v1/nope`, { headers: { authorization: 'Bearer whatever' } })
  t.equal(nfBearer.status, 404, 'same 404 with a bearer')
  const bad = await req(`${url}/healthz`, { method: 'DELETE' })
  t.equal(bad.status, 405)
  t.match(bad.headers.allow, /GET/)
  t.equal(bad.json().error.type, 'invalid_request_error')
})

t.test('body framing: 411 without Content-Length, 413 over the cap, before reading', async (t) => {
  const { gw } = await startTestGateway(t, { config: (c) => { c.limits = { max_request_bytes: 1000, max_url_length: 100, max_request_header_bytes: 2000 } } })
  const chunked = await raw(gw.port, 'POST /oauth/token HTTP/1.1\nHost: x\nTransfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n')
  t.equal(chunked.status, 411)
  t.equal(JSON.parse(chunked.body.replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')).error.type, 'invalid_request_error')
  const big = await raw(gw.port, 'POST /oauth/token HTTP/1.1\nHost: x\nContent-Length: 5000', 'x'.repeat(10))
  t.equal(big.status, 413)
  t.match(big.body, /request_too_large/)
  const okSize = await raw(gw.port, 'POST /nowhere HTTP/1.1\nHost: x\nContent-Length: 10', 'x'.repeat(10))
  t.equal(okSize.status, 404, 'within the cap the request proceeds to routing')
  const longUrl = await raw(gw.port, `GET /${'a'.repeat(200)} HTTP/1.1\nHost: x`)
  t.equal(longUrl.status, 414)
  const fatHeaders = await raw(gw.port, `GET /healthz HTTP/1.1\nHost: x\nX-Big: ${'b'.repeat(3000)}`)
  t.equal(fatHeaders.status, 431)
})

t.test('deny_cidrs applies everywhere; allow_cidrs exempts health probes', async (t) => {
  const denied = await startTestGateway(t, { config: (c) => { c.access_control = { deny_cidrs: ['127.0.0.0/8'] } } })
  t.equal((await req(`${denied.url}/healthz`)).status, 403)
  const d2 = await req(`${denied.url}/`)
  t.equal(d2.status, 403)
  t.equal(d2.json().error.type, 'permission_error')

  const allowOnly = await startTestGateway(t, { config: (c) => { c.access_control = { allow_cidrs: ['10.0.0.0/8'] } } })
  t.equal((await req(`${allowOnly.url}/healthz`)).status, 200, 'liveness exempt')
  t.equal((await req(`${allowOnly.url}/readyz`)).status, 200, 'readiness exempt')
  t.equal((await req(`${allowOnly.url}/`)).status, 403)
  t.equal((await req(`${allowOnly.url}/`, { headers: { 'x-forwarded-for': '10.1.1.1' } })).status, 403, 'X-Forwarded-For ignored without trusted proxies')
})

t.test('trusted proxies: X-Forwarded-For walked past trusted hops only', async (t) => {
  const { url } = await startTestGateway(t, {
    config: (c) => {
      c.listen.trusted_proxies = ['127.0.0.1', '192.168.0.0/16']
      c.access_control = { allow_cidrs: ['10.0.0.0/8'] }
    },
  })
  t.equal((await req(`${url}/`, { headers: { 'x-forwarded-for': '10.9.9.9' } })).status, 200)
  t.equal((await req(`${url}/`, { headers: { 'x-forwarded-for': '10.9.9.9, 192.168.1.1' } })).status, 200, 'trusted hop skipped')
  t.equal((await req(`${url}/`, { headers: { 'x-forwarded-for': '10.9.9.9, 8.8.8.8' } })).status, 403, 'nearest untrusted hop is the client')
  t.equal((await req(`${url}/`, { headers: { 'x-forwarded-for': '10.9.9.9, junk' } })).status, 403, 'unparseable hop: fall back to the peer')
  t.equal((await req(`${url}/`)).status, 403, 'no header: the peer (127.0.0.1) is not allow-listed')
})
