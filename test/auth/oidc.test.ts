/**
 * The relying-party client on its own (lib/auth/oidc.ts, client-auth.ts, idp-http.ts), against a
 * small scripted IdP: every id_token rule (signature, alg, iss, aud, azp and
 * additional_authorized_parties, nonce, clock skew), token-endpoint error mapping, client
 * authentication encodings, and the authorization URL.
 */
import { X509Certificate, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { create } from 'superstruct'
import t from 'tap'
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { authMethodFor, ClientAuth } from '../../lib/auth/client-auth.js'
import type { OidcMetadata } from '../../lib/auth/discovery.js'
import { IdpRefused, IdpUnavailable } from '../../lib/auth/errors.js'
import { OidcClient } from '../../lib/auth/oidc.js'
import { OidcSchema, type OidcConfig } from '../../lib/config/schema/oidc.js'
import { ROOT } from '../../lib/version.js'

process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

t.test('id_token validation and token endpoint errors', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }
  const ec = await generateKeyPair('ES256')
  let tokenAnswer: { status: number, body: unknown } = { status: 200, body: {} }
  const bodies: Array<{ auth?: string, form: string }> = []
  const srv = createServer((req, res) => {
    let b = ''
    req.on('data', (d: Buffer) => { b += d.toString() })
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/jwks') { res.end(JSON.stringify({ keys: [jwk] })); return }
      if (req.url === '/token') {
        bodies.push({ auth: req.headers.authorization, form: b })
        res.statusCode = tokenAnswer.status
        res.end(typeof tokenAnswer.body === 'string' ? tokenAnswer.body : JSON.stringify(tokenAnswer.body))
        return
      }
      res.statusCode = 404
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  const iss = `http://127.0.0.1:${(srv.address() as { port: number }).port}`
  const md: OidcMetadata = { issuer: iss, authorization_endpoint: `${iss}/authorize`, token_endpoint: `${iss}/token`, jwks_uri: `${iss}/jwks` }
  const cfg = (o: Record<string, unknown> = {}): OidcConfig => create({ issuer: iss, client_id: 'weir', client_secret: 's p&c:é', ...o }, OidcSchema)
  const client = new OidcClient(cfg({ additional_authorized_parties: ['other-app'], clock_skew_seconds: 30 }), md)
  t.teardown(() => client.close())
  const now = Math.floor(Date.now() / 1000)
  const sign = async (claims: Record<string, unknown>, o: { alg?: string, key?: unknown, kid?: string } = {}): Promise<string> =>
    await new SignJWT({ sub: 'u1', nonce: 'n1', ...claims })
      .setProtectedHeader({ alg: o.alg ?? 'RS256', kid: o.kid ?? 'k1' })
      .setIssuer((claims.iss as string | undefined) ?? iss).setAudience((claims.aud as string | string[] | undefined) ?? 'weir')
      .setIssuedAt(now).setExpirationTime((claims.exp as number | undefined) ?? now + 300)
      .sign((o.key ?? privateKey) as Parameters<SignJWT['sign']>[0])

  t.match(await client.verifyIdToken(await sign({}), 'n1'), { sub: 'u1' })
  t.match(await client.verifyIdToken(await sign({ nonce: undefined }), undefined), { sub: 'u1' }, 'no nonce checked on refresh')
  const refused = async (token: Promise<string>, why: RegExp, nonce: string | undefined = 'n1'): Promise<void> => {
    await t.rejects(client.verifyIdToken(await token, nonce), why)
  }
  await refused(sign({}), /nonce mismatch/, 'n2')
  await refused(sign({ iss: 'https://other' }), /iss/)
  await refused(sign({ aud: 'someone-else' }), /aud/)
  await refused(sign({ aud: ['weir', 'other-app'] }), /azp is missing/)
  t.ok(await client.verifyIdToken(await sign({ aud: ['weir', 'other-app'], azp: 'other-app' }), 'n1'), 'azp among additional_authorized_parties')
  await refused(sign({ azp: 'stranger' }), /azp/)
  t.ok(await client.verifyIdToken(await sign({ exp: now - 10 }), 'n1'), 'expired 10 s ago, within clock_skew_seconds 30')
  await refused(sign({ exp: now - 60 }), /exp/)
  await refused(sign({}, { alg: 'ES256', key: ec.privateKey }), /ALG_NOT_ALLOWED/)
  await refused(sign({}, { kid: 'k2' }), /id_token rejected/)
  await refused(Promise.resolve('not.a.jwt'), /id_token rejected/)
  const es = new OidcClient(cfg({ id_token_signed_response_alg: 'ES256' }), md)
  t.teardown(() => es.close())
  await t.rejects(es.verifyIdToken(await sign({}), 'n1'), /ALG_NOT_ALLOWED/, 'RS256 refused when ES256 is configured')

  // token endpoint answers
  tokenAnswer = { status: 200, body: { access_token: 'at', id_token: 'it', refresh_token: 'rt', token_type: 'Bearer' } }
  t.same(await client.refresh('rt0'), { access_token: 'at', id_token: 'it', refresh_token: 'rt' })
  tokenAnswer = { status: 400, body: { error: 'invalid_grant', error_description: 'revoked' } }
  await t.rejects(client.refresh('rt0'), IdpRefused)
  tokenAnswer = { status: 401, body: { error: 'invalid_client' } }
  await t.rejects(client.refresh('rt0'), IdpUnavailable)
  tokenAnswer = { status: 502, body: '<html>bad gateway</html>' }
  await t.rejects(client.refresh('rt0'), /HTTP 502/)
  await t.rejects(client.exchangeCode({ code: 'c', redirectUri: 'http://gw/cb', iss: 'https://evil' }), /iss/)
  const dead = new OidcClient(cfg(), { ...md, token_endpoint: 'http://127.0.0.1:1/token' })
  t.teardown(() => dead.close())
  await t.rejects(dead.refresh('rt0'), IdpUnavailable, 'a transport failure is temporary')

  // client_secret_post (the auto rule's default): form-encoded credentials in the body
  const last = (): URLSearchParams => new URLSearchParams(bodies[bodies.length - 1]?.form)
  t.equal(last().get('client_secret'), 's p&c:é')
  t.equal(last().get('client_id'), 'weir')
  t.equal(bodies[bodies.length - 1]?.auth, undefined)
  // scope_on_refresh
  const sor = new OidcClient(cfg({ scope_on_refresh: true, scopes: ['openid', 'email'] }), md)
  t.teardown(() => sor.close())
  tokenAnswer = { status: 200, body: { access_token: 'at' } }
  await sor.refresh('rt0')
  t.equal(last().get('scope'), 'openid email')
  // client_secret_basic: RFC 6749 §2.3.1 form-encoding inside Basic
  const basic = new OidcClient(cfg({ token_endpoint_auth_method: 'client_secret_basic' }), md)
  t.teardown(() => basic.close())
  await basic.refresh('rt0')
  const auth = Buffer.from((bodies[bodies.length - 1]?.auth ?? '').replace(/^Basic /, ''), 'base64').toString()
  t.equal(auth, 'weir:s+p%26c%3A%C3%A9')
  t.notOk(last().has('client_secret'))
})

t.test('authorization URL and client authentication rules', async (t) => {
  const md: OidcMetadata = { issuer: 'https://idp.example.com', authorization_endpoint: 'https://idp.example.com/authorize?tenant=t1', token_endpoint: 'https://idp.example.com/token', jwks_uri: 'https://idp.example.com/jwks' }
  const cfg = create({ issuer: md.issuer, client_id: 'weir', client_secret: 's', scopes: ['openid', 'email', 'openid'], extra_auth_params: { prompt: 'consent', access_type: 'offline' } }, OidcSchema)
  const c = new OidcClient(cfg, md)
  t.teardown(() => c.close())
  const u = new URL(c.authorizationUrl({ redirectUri: 'https://gw/oauth/callback', state: 'st', nonce: 'no', codeChallenge: 'cc' }))
  t.same(Object.fromEntries(u.searchParams), {
    tenant: 't1', client_id: 'weir', response_type: 'code', prompt: 'consent', access_type: 'offline', redirect_uri: 'https://gw/oauth/callback',
    scope: 'openid email', state: 'st', nonce: 'no', code_challenge: 'cc', code_challenge_method: 'S256', response_mode: 'query',
  })
  t.notOk(new URL(c.authorizationUrl({ redirectUri: 'x', state: 's', nonce: 'n' })).searchParams.has('code_challenge'))

  t.equal(authMethodFor({}, undefined), 'client_secret_post')
  t.equal(authMethodFor({}, ['client_secret_basic', 'client_secret_post']), 'client_secret_post')
  t.equal(authMethodFor({}, ['client_secret_basic', 'private_key_jwt']), 'client_secret_basic')
  t.equal(authMethodFor({ token_endpoint_auth_method: 'client_secret_basic' }, ['client_secret_post']), 'client_secret_basic')

  const key = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'client-assertion.key.pem'), 'utf8')
  const cert = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'client-assertion.cert.pem'), 'utf8')
  const pk = create({ issuer: md.issuer, client_id: 'weir', token_endpoint_auth_method: 'private_key_jwt', client_assertion: { private_key_pem: key, certificate_pem: cert } }, OidcSchema)
  const ca = new ClientAuth(pk, undefined, md.token_endpoint)
  const form = new URLSearchParams()
  t.same(await ca.apply(form), {})
  t.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
  const assertion = form.get('client_assertion') as string
  const x509 = new X509Certificate(cert)
  const { payload, protectedHeader } = await jwtVerify(assertion, x509.publicKey, { audience: md.token_endpoint, issuer: 'weir', subject: 'weir' })
  t.equal(protectedHeader.alg, 'RS256')
  t.equal(protectedHeader.x5t, createHash('sha1').update(x509.raw).digest('base64url'))
  t.equal(protectedHeader['x5t#S256'], createHash('sha256').update(x509.raw).digest('base64url'))
  t.equal((payload.exp as number) - (payload.iat as number), 300)
  t.match(payload.jti, /^[0-9a-f-]{36}$/)
  const again = new URLSearchParams()
  await ca.apply(again)
  t.not(again.get('client_assertion'), assertion, 'a fresh assertion each time')
})
