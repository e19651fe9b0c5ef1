/**
 * How Weir talks to the identity provider, per `oidc` key: token endpoint authentication (the
 * auto rule, client_secret_basic/post, private_key_jwt), use_proxy (CONNECT through HTTP_PROXY),
 * ca_cert_pem (an HTTPS IdP on a private CA), discovery_url, scopes, extra_auth_params,
 * scope_on_refresh and form_action_origins — each through a real sign-in against oidc-provider.
 */
import { execFileSync } from 'node:child_process'
import { createPublicKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { startDevIdp, type DevIdpOptions } from '../../lib/dev/idp.js'
import { ROOT } from '../../lib/version.js'
import { startTestGateway } from '../helpers/gateway.js'
import { http, refresh, signIn } from '../auth/helpers/flow.js'

const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any
const USERS = [
  { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] },
  { sub: 'u-bob', email: 'bob@corp.example', name: 'Bob', groups: ['contractors'] },
]
const REDIRECT = ['http://127.0.0.1/oauth/callback']

async function idpWith (t: Test, o: Partial<DevIdpOptions>): Promise<Awaited<ReturnType<typeof startDevIdp>>> {
  const idp = await startDevIdp({ users: USERS, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: REDIRECT }], ...o })
  t.teardown(() => idp.close())
  return idp
}

async function listen (srv: Server): Promise<number> {
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return (srv.address() as { port: number }).port
}

t.test('token endpoint authentication', async (t) => {
  t.test('auto rule: the IdP lists no client_secret_post, so Basic is used', async (t) => {
    const idp = await idpWith(t, {
      authMethods: ['client_secret_basic'],
      clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: REDIRECT, token_endpoint_auth_method: 'client_secret_basic' }],
    })
    const g = await startTestGateway(t, { idp })
    const r = await signIn(g.url)
    t.equal(r.token.status, 200)
    t.equal((await refresh(g.url, r.token.json().refresh_token)).status, 200)
  })
  t.test('an explicit method the IdP does not accept fails', async (t) => {
    const idp = await idpWith(t, {
      authMethods: ['client_secret_basic'],
      clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: REDIRECT, token_endpoint_auth_method: 'client_secret_basic' }],
    })
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.token_endpoint_auth_method = 'client_secret_post' } })
    const r = await signIn(g.url)
    t.equal(r.page.status, 502)
    t.same(r.token.json(), { error: 'access_denied' })
  })
  t.test('private_key_jwt with the configured key and certificate', async (t) => {
    const keyPem = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'client-assertion.key.pem'), 'utf8')
    const certPem = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'client-assertion.cert.pem'), 'utf8')
    const jwk = { ...createPublicKey(certPem).export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
    const idp = await idpWith(t, { clients: [{ client_id: 'weir-test', redirect_uris: REDIRECT, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }] })
    const g = await startTestGateway(t, {
      idp,
      config: (c) => {
        delete c.oidc.client_secret
        c.oidc.token_endpoint_auth_method = 'private_key_jwt'
        c.oidc.client_assertion = { private_key_pem: keyPem, certificate_pem: certPem }
      },
    })
    const r = await signIn(g.url)
    t.equal(r.token.status, 200, 'code exchange authenticated with a signed assertion')
    const rt = r.token.json().refresh_token
    t.equal((await refresh(g.url, rt)).status, 200, 'and the refresh grant')
    t.equal((await http(`${g.url}/oauth/revoke`, { form: { token: rt, token_type_hint: 'refresh_token' } })).status, 200)
    t.equal((await refresh(g.url, rt)).status, 401, 'signed out')
  })
})

t.test('use_proxy sends IdP traffic through HTTP_PROXY; scope_on_refresh, scopes, extra_auth_params, form_action_origins', async (t) => {
  const idp = await idpWith(t, {})
  const tunnels: string[] = []
  let sniffed = ''
  const proxy = createServer()
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(':')
    const up = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      up.write(head)
      client.on('data', (d: Buffer) => { sniffed += d.toString('latin1') })
      client.pipe(up)
      up.pipe(client)
    })
    up.on('error', () => client.destroy())
    client.on('error', () => up.destroy())
  })
  const pport = await listen(proxy)
  t.teardown(() => { proxy.closeAllConnections(); proxy.close() })
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY }
  process.env.HTTP_PROXY = `http://127.0.0.1:${pport}`
  delete process.env.NO_PROXY
  t.teardown(() => { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v } })

  const g = await startTestGateway(t, {
    idp,
    config: (c) => {
      c.oidc.use_proxy = true
      c.oidc.scope_on_refresh = true
      c.oidc.scopes = ['openid', 'email', 'offline_access']
      c.oidc.extra_auth_params = { login_hint: 'bob@corp.example', prompt: 'consent' }
      c.oidc.form_action_origins = ['https://sso.example.com/some/path']
    },
  })
  const idpHost = new URL(idp.issuer).host
  t.ok(tunnels.includes(idpHost), 'discovery went through the proxy')
  const csp = (await http(`${g.url}/device`)).headers['content-security-policy']
  t.match(csp, `form-action 'self' ${idp.issuer} https://sso.example.com;`)

  const r = await signIn(g.url, { tamper: (u) => { t.equal(u.searchParams.get('login_hint'), 'bob@corp.example'); t.equal(u.searchParams.get('prompt'), 'consent'); t.equal(u.searchParams.get('scope'), 'openid email offline_access') } })
  t.equal(r.token.status, 200)
  const claims = decode(r.token.json().access_token)
  t.equal(claims.email, 'bob@corp.example', 'extra_auth_params reached the IdP (login_hint chose the user)')
  t.notOk('name' in claims, 'profile was not among the scopes, so no name')
  t.ok(tunnels.filter((h) => h === idpHost).length >= 3, 'token and JWKS requests went through the proxy too')
  sniffed = ''
  t.equal((await refresh(g.url, r.token.json().refresh_token)).status, 200)
  t.match(sniffed, /grant_type=refresh_token&refresh_token=[^&\s]+&scope=openid\+email\+offline_access/, 'scope sent on refresh')
})

t.test('discovery_url names the document; ca_cert_pem trusts a private CA', async (t) => {
  t.test('discovery_url', async (t) => {
    const idp = await idpWith(t, {})
    let hits = 0
    const doc = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).text()
    const srv = createServer((req, res) => {
      if (req.url === '/tenant-a/.well-known/openid-configuration') { hits++; res.setHeader('content-type', 'application/json'); res.end(doc) } else { res.statusCode = 404; res.end() }
    })
    const port = await listen(srv)
    t.teardown(() => srv.close())
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.discovery_url = `http://127.0.0.1:${port}/tenant-a/.well-known/openid-configuration` } })
    t.equal(hits, 1)
    t.equal((await signIn(g.url)).token.status, 200)
  })
  t.test('ca_cert_pem', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-ca-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '2', '-subj', '/CN=Weir test IdP', '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' })
    } catch {
      t.pass('skipped: openssl is not available to make a certificate', { skip: true })
      return
    }
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
    const idp = await idpWith(t, { tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert } })
    t.match(idp.issuer, /^https:/)
    await t.rejects(startTestGateway(t, { idp }), /OIDC discovery failed.*certificate/, 'without ca_cert_pem the IdP is not trusted')
    const g = await startTestGateway(t, { idp, config: (c) => { c.oidc.ca_cert_pem = cert } })
    const before = getGlobalDispatcher()
    setGlobalDispatcher(new Agent({ connect: { ca: cert } })) // the test's browser trusts it too
    t.teardown(() => setGlobalDispatcher(before))
    const r = await signIn(g.url)
    t.equal(r.token.status, 200)
    t.equal((await refresh(g.url, r.token.json().refresh_token)).status, 200)
  })
})
