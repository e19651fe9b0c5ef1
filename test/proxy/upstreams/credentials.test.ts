/**
 * Cloud credential sources against local fakes of their real endpoints: the AWS default chain
 * (environment, shared files, web identity via STS, ECS/EKS container endpoint, EC2 IMDSv2 and its
 * hop-limit failure), assume_role with a SigV4-verified STS, Entra ID (client secret, workload
 * identity, App Service and VM managed identity), Google (static token, the metadata server,
 * an external-account key file), Anthropic workload identity federation; and the refresh cache.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RoleSessions, sessionNameFor } from '../../../lib/cloud/aws-assume-role.js'
import { defaultChain, parseIni, staticCredentials } from '../../../lib/cloud/aws-credentials.js'
import { azureBearer } from '../../../lib/cloud/azure.js'
import { federationBearer } from '../../../lib/cloud/anthropic-wif.js'
import { googleBearer } from '../../../lib/cloud/google.js'
import { Cached } from '../../../lib/cloud/token-cache.js'
import { xmlText } from '../../../lib/cloud/aws-sts.js'
import { AKID, form, SECRET, sendJson, stsXml, tinyServer, verifySigV4 } from './fakes.js'

const dir = mkdtempSync(join(tmpdir(), 'weir-creds-'))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const NO_IMDS = { AWS_EC2_METADATA_DISABLED: 'true', HOME: dir }

t.test('token cache: fresh values are synchronous, refresh runs before expiry, failures back off', async (t) => {
  let now = 1_000_000
  let n = 0
  let fail = false
  const c = new Cached<string>(async () => {
    n++
    if (fail) throw new Error('down')
    return { value: `v${n}`, expiresAt: now + 600_000 }
  }, { now: () => now, refreshBeforeMs: 300_000, mandatoryMs: 30_000, retryMs: 5_000 })
  t.equal(c.peek(), null)
  t.equal(await c.get(), 'v1')
  t.equal(await Promise.all([c.get(), c.get()]).then((v) => v.join()), 'v1,v1')
  t.equal(n, 1, 'cached')
  now += 400_000 // 200 s left: inside the refresh window
  t.equal(c.peek(), 'v1', 'still served while a background refresh runs')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(n, 2)
  t.equal(c.peek(), 'v2')
  now += 590_000 // 10 s left: callers must wait
  fail = true
  await t.rejects(c.get(), /down/)
  fail = false
  now += 1_000
  await t.rejects(c.get(), /down/, 'a fresh failure is repeated for a moment without asking again')
  t.equal(n, 3)
  now += 2_000
  t.equal(await c.get(), 'v4', 'then the source is asked again')
  c.invalidate()
  t.equal(c.peek(), null)
  t.equal(await c.get(), 'v5')
  let m = 0
  const nc = new Cached<number>(async () => ({ value: ++m }), { noCache: true })
  t.equal(await nc.get(), 1)
  t.equal(await nc.get(), 2, 'noCache fetches every time')
  const forever = new Cached<string>(async () => ({ value: 'static' }))
  await forever.get()
  t.equal(forever.peek(), 'static', 'no expiry: cached for good')
})

t.test('AWS chain: environment first, then shared files (profiles, unsupported kinds explained)', async (t) => {
  const env = defaultChain('us-east-1', { ...NO_IMDS, AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 'tok' })
  const c = await env.get()
  t.same([c.accessKeyId, c.sessionToken, c.source], ['AKENV', 'tok', 'environment'])
  t.equal(env.peek()?.accessKeyId, 'AKENV', 'then cached')

  const creds = file('credentials', '[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n[dev]\naws_access_key_id=AKDEV\naws_secret_access_key=sdev\naws_session_token=tdev\n[sso]\nsso_session = corp\n')
  const config = file('config', '[profile roley]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n[sso-session corp]\nsso_start_url = https://x\n[profile cfgkeys]\naws_access_key_id = AKCFG\naws_secret_access_key = scfg\n')
  const base = { ...NO_IMDS, AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: config }
  t.equal((await defaultChain('us-east-1', base).get()).accessKeyId, 'AKDEF')
  const dev = await defaultChain('us-east-1', { ...base, AWS_PROFILE: 'dev' }).get()
  t.same([dev.accessKeyId, dev.sessionToken, dev.source], ['AKDEV', 'tdev', 'shared file profile dev'])
  t.equal((await defaultChain('us-east-1', { ...base, AWS_PROFILE: 'cfgkeys' }).get()).accessKeyId, 'AKCFG', '[profile x] in the config file')
  await t.rejects(defaultChain('us-east-1', { ...base, AWS_PROFILE: 'roley' }).get(), /uses role_arn, which Weir does not run/)
  await t.rejects(defaultChain('us-east-1', { ...base, AWS_PROFILE: 'nope' }).get(), /no such profile/)
  t.same(parseIni('[profile a]\nk = v\n[services s]\nx=y\n', true).get('a'), { k: 'v' })
  await t.rejects(defaultChain('us-east-1', { ...NO_IMDS }).get(), /no AWS credentials found/, 'nothing configured at all')
})

t.test('AWS chain: web identity (IRSA) through STS, the token file re-read on refresh', async (t) => {
  let ttl = 20_000 // under the 30 s mandatory window: every get exchanges again
  const sts = await tinyServer((s, res) => {
    const f = form(s.body)
    if (f.Action !== 'AssumeRoleWithWebIdentity') { res.writeHead(400); res.end('<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>'); return }
    if (f.WebIdentityToken === 'expired-jwt') { res.writeHead(400, { 'content-type': 'text/xml' }); res.end('<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredTokenException</Code><Message>Token expired: current date/time 1 must be before the expiration date/time 0</Message></Error></ErrorResponse>'); return }
    res.writeHead(200, { 'content-type': 'text/xml' })
    res.end(stsXml('AssumeRoleWithWebIdentity', `ASIA${f.WebIdentityToken ?? ''}`, ttl))
  })
  t.teardown(() => sts.close())
  const tokenFile = file('irsa-token', 'jwt1\n')
  const env = { ...NO_IMDS, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/gw', AWS_ROLE_SESSION_NAME: 'weir-pod', AWS_ENDPOINT_URL_STS: sts.url }
  const p = defaultChain('eu-west-1', env)
  const c = await p.get()
  t.same([c.accessKeyId, c.secretAccessKey, c.sessionToken], ['ASIAjwt1', 'secret-ASIAjwt1', 'token-ASIAjwt1'])
  t.ok((c.expiresAt ?? 0) > Date.now())
  t.same(form(sts.seen[0]?.body ?? Buffer.alloc(0)), { Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: 'arn:aws:iam::123456789012:role/gw', RoleSessionName: 'weir-pod', WebIdentityToken: 'jwt1' })
  t.equal(sts.seen[0]?.headers.authorization, undefined, 'unsigned')
  writeFileSync(tokenFile, 'jwt2')
  t.equal(p.peek(), null, 'credentials about to expire are not served')
  t.equal((await p.get()).accessKeyId, 'ASIAjwt2', 'the rotated token is used')
  ttl = 3600_000
  writeFileSync(tokenFile, 'expired-jwt')
  await t.rejects(p.get(), /ExpiredTokenException: Token expired/)
  t.equal(xmlText('<a>x &amp; &lt;y&gt;</a>', 'a'), 'x & <y>')
})

t.test('AWS chain: container credentials (ECS task role, EKS Pod Identity)', async (t) => {
  const ecs = await tinyServer((s, res) => {
    if (s.headers.authorization !== 'pod-identity-token') { sendJson(res, 401, { message: 'no' }); return }
    sendJson(res, 200, { AccessKeyId: 'ASIAECS', SecretAccessKey: 'secs', Token: 'tecs', Expiration: new Date(Date.now() + 3600_000).toISOString() })
  })
  t.teardown(() => ecs.close())
  const tok = file('pod-token', 'pod-identity-token\n')
  const c = await defaultChain('us-east-1', { ...NO_IMDS, AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tok }).get()
  t.same([c.accessKeyId, c.sessionToken, c.source], ['ASIAECS', 'tecs', 'container credentials'])
  t.equal(ecs.seen[0]?.url, '/v1/credentials')
  await t.rejects(defaultChain('us-east-1', { ...NO_IMDS, AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong' }).get(), /answered 401/)
  await t.rejects(defaultChain('us-east-1', { ...NO_IMDS, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://evil.example.com/creds' }).get(), /must be https or a loopback/)
})

t.test('AWS chain: EC2 instance metadata (IMDSv2), v1 fallback, and the hop-limit failure', async (t) => {
  let mode: 'v2' | 'v1' | 'norole' = 'v2'
  const imds = await tinyServer((s, res) => {
    if (s.method === 'PUT' && s.url === '/latest/api/token') {
      if (mode === 'v1') { res.writeHead(405); res.end(); return }
      if (s.headers['x-aws-ec2-metadata-token-ttl-seconds'] !== '21600') { res.writeHead(400); res.end(); return }
      res.writeHead(200); res.end('imds-session'); return
    }
    if (mode === 'v2' && s.headers['x-aws-ec2-metadata-token'] !== 'imds-session') { res.writeHead(401); res.end(); return }
    if (s.url === '/latest/meta-data/iam/security-credentials/') {
      if (mode === 'norole') { res.writeHead(404); res.end(); return }
      res.writeHead(200); res.end('gateway-role\n'); return
    }
    if (s.url === '/latest/meta-data/iam/security-credentials/gateway-role') {
      sendJson(res, 200, { Code: 'Success', AccessKeyId: 'ASIAIMDS', SecretAccessKey: 'simds', Token: 'timds', Expiration: new Date(Date.now() + 6 * 3600_000).toISOString() })
      return
    }
    res.writeHead(404); res.end()
  })
  t.teardown(() => imds.close())
  const env = { HOME: dir, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }
  const c = await defaultChain('us-east-1', env).get()
  t.same([c.accessKeyId, c.sessionToken, c.source], ['ASIAIMDS', 'timds', 'instance profile gateway-role'])
  mode = 'v1'
  t.equal((await defaultChain('us-east-1', env).get()).accessKeyId, 'ASIAIMDS', 'IMDSv1 when the token request is refused')
  await t.rejects(defaultChain('us-east-1', { ...env, AWS_EC2_METADATA_V1_DISABLED: 'true' }).get(), /AWS_EC2_METADATA_V1_DISABLED/)
  mode = 'norole'
  await t.rejects(defaultChain('us-east-1', env).get(), /no IAM role/)

  // a hop limit of 1 drops the PUT's answer on its way into a container: the request just hangs
  const blackhole = await tinyServer(() => {})
  t.teardown(() => blackhole.close())
  const t0 = Date.now()
  await t.rejects(defaultChain('us-east-1', { HOME: dir, AWS_EC2_METADATA_SERVICE_ENDPOINT: blackhole.url }).get(), /hop limit is probably 1[\s\S]*http-put-response-hop-limit 2/)
  t.ok(Date.now() - t0 < 5_000, 'gives up after about a second')
})

t.test('AWS: cached per worker; CLAUDE_CODE_SKIP_AWS_CRED_CACHE re-reads long-lived keys on every request', async (t) => {
  const ecs = await tinyServer((_s, res) => { sendJson(res, 200, { AccessKeyId: 'ASIAC', SecretAccessKey: 's', Token: 't', Expiration: new Date(Date.now() + 3600_000).toISOString() }) })
  t.teardown(() => ecs.close())
  const env = { ...NO_IMDS, AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/c` }
  const cached = defaultChain('us-east-1', env)
  await cached.get(); await cached.get()
  t.equal(ecs.seen.length, 1)
  cached.invalidate()
  await cached.get()
  t.equal(ecs.seen.length, 2, 'invalidate forces a new fetch')
  const skip = defaultChain('us-east-1', { ...env, CLAUDE_CODE_SKIP_AWS_CRED_CACHE: '1' })
  await skip.get(); await skip.get()
  t.equal(ecs.seen.length, 3, 'temporary credentials are still kept until they near expiry')

  const creds = file('rotating', '[default]\naws_access_key_id = AKOLD\naws_secret_access_key = s\n')
  const fenv = { ...NO_IMDS, AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: join(dir, 'none') }
  const keep = defaultChain('us-east-1', fenv)
  const reread = defaultChain('us-east-1', { ...fenv, CLAUDE_CODE_SKIP_AWS_CRED_CACHE: 'true' })
  t.equal((await keep.get()).accessKeyId, 'AKOLD')
  t.equal((await reread.get()).accessKeyId, 'AKOLD')
  writeFileSync(creds, '[default]\naws_access_key_id = AKNEW\naws_secret_access_key = s\n')
  t.equal((await keep.get()).accessKeyId, 'AKOLD', 'cached keys stay until invalidated')
  t.equal(reread.peek(), null)
  t.equal((await reread.get()).accessKeyId, 'AKNEW', 'with the cache skipped, rotated keys apply at once')
})

t.test('assume_role: SigV4-signed STS AssumeRole, shared and per-developer sessions', async (t) => {
  const sts = await tinyServer((s, res) => {
    const why = verifySigV4(s, { region: 'us-west-2', service: 'sts' })
    if (why !== null) { res.writeHead(403, { 'content-type': 'text/xml' }); res.end(`<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>${why}</Message></Error></ErrorResponse>`); return }
    const f = form(s.body)
    if (f.ExternalId !== 'ext-42') { res.writeHead(403, { 'content-type': 'text/xml' }); res.end('<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/gw is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>'); return }
    res.writeHead(200, { 'content-type': 'text/xml' })
    res.end(stsXml('AssumeRole', `ASIA-${f.RoleSessionName ?? ''}`))
  })
  t.teardown(() => sts.close())
  const env = { ...NO_IMDS, AWS_ENDPOINT_URL_STS: sts.url }
  const role = { role_arn: 'arn:aws:iam::210987654321:role/bedrock-users', external_id: 'ext-42' }
  const shared = new RoleSessions('br', 'us-west-2', role, staticCredentials(AKID, SECRET), env)
  const c = await shared.forPrincipal({ sub: 'u-1', email: 'a@b.c' }).get()
  t.equal(c.accessKeyId, 'ASIA-weir-gateway', 'one shared session without session_name')
  t.same(form(sts.seen[0]?.body ?? Buffer.alloc(0)), { Action: 'AssumeRole', Version: '2011-06-15', RoleArn: role.role_arn, RoleSessionName: 'weir-gateway', ExternalId: 'ext-42', DurationSeconds: '3600' })

  const perUser = new RoleSessions('br', 'us-west-2', { ...role, session_name: 'email' }, staticCredentials(AKID, SECRET), env)
  t.equal((await perUser.forPrincipal({ sub: 'u-1', email: 'alice@example.com' }).get()).accessKeyId, 'ASIA-alice@example.com')
  t.equal((await perUser.forPrincipal({ sub: 'u-2', email: 'zoë o\'neil@example.com' }).get()).accessKeyId, 'ASIA-zo=C3=AB=20o=27neil@example.com')
  t.equal(perUser.forPrincipal({ sub: 'u-1', email: 'alice@example.com' }), perUser.forPrincipal({ sub: 'u-1', email: 'alice@example.com' }), 'sessions are cached per developer')
  t.throws(() => perUser.forPrincipal({ sub: 'u-3', email: undefined }), /no usable email claim/)
  t.equal(perUser.sharedSession, perUser.forPrincipal(null))
  t.equal(sessionNameFor('x'.repeat(100))?.length, 64)
  t.equal(sessionNameFor('a'), null)

  const badSource = new RoleSessions('br', 'us-west-2', role, staticCredentials(AKID, 'wrong-secret'), env)
  await t.rejects(badSource.forPrincipal(null).get(), /sts:AssumeRole on arn:aws:iam::210987654321:role\/bedrock-users failed \(.*SignatureDoesNotMatch[\s\S]*trust policy/)
  const noExt = new RoleSessions('br', 'us-west-2', { role_arn: role.role_arn }, staticCredentials(AKID, SECRET), env)
  await t.rejects(noExt.forPrincipal(null).get(), /AccessDenied/)
})

t.test('Azure: client secret, workload identity, App Service and VM managed identity', async (t) => {
  const entra = await tinyServer((s, res) => {
    const f = form(s.body)
    if (s.url !== '/tenant-1/oauth2/v2.0/token') { sendJson(res, 404, {}); return }
    if (f.scope !== 'https://cognitiveservices.azure.com/.default' || f.grant_type !== 'client_credentials') { sendJson(res, 400, { error: 'invalid_request' }); return }
    if (f.client_secret === 'bad') { sendJson(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.\nTrace ID: x' }); return }
    const who = f.client_secret !== undefined ? `secret:${f.client_secret}` : `assertion:${f.client_assertion ?? ''}:${f.client_assertion_type ?? ''}`
    sendJson(res, 200, { token_type: 'Bearer', expires_in: 3599, access_token: `aad(${who})` })
  })
  t.teardown(() => entra.close())
  const base = { AZURE_AUTHORITY_HOST: entra.url, AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_ID: 'app-1' }
  const secret = azureBearer('foundry', { ...base, AZURE_CLIENT_SECRET: 's3' })
  t.equal(await secret.get(), 'aad(secret:s3)')
  t.equal(secret.peek(), 'aad(secret:s3)', 'cached')
  t.equal(entra.seen.length, 1)
  await t.rejects(azureBearer('foundry', { ...base, AZURE_CLIENT_SECRET: 'bad' }).get(), /invalid_client: AADSTS7000215: Invalid client secret provided\.$/)

  const wi = azureBearer('foundry', { ...base, AZURE_FEDERATED_TOKEN_FILE: file('aks-token', 'aks-jwt\n') })
  t.equal(await wi.get(), 'aad(assertion:aks-jwt:urn:ietf:params:oauth:client-assertion-type:jwt-bearer)')

  const msi = await tinyServer((s, res) => {
    const u = new URL(s.url, 'http://x')
    if (u.pathname === '/msi/token' && s.headers['x-identity-header'] === 'app-svc-secret') {
      sendJson(res, 200, { access_token: `appsvc(${u.searchParams.get('resource') ?? ''},${u.searchParams.get('api-version') ?? ''})`, expires_on: String(Math.floor(Date.now() / 1000) + 3600) })
      return
    }
    if (u.pathname === '/metadata/identity/oauth2/token' && s.headers.metadata === 'true') {
      if (u.searchParams.get('client_id') === 'missing') { sendJson(res, 400, { error: 'invalid_request', error_description: 'Identity not found' }); return }
      sendJson(res, 200, { access_token: `imds(${u.searchParams.get('resource') ?? ''},${u.searchParams.get('client_id') ?? '-'})`, expires_in: '3600' })
      return
    }
    sendJson(res, 404, {})
  })
  t.teardown(() => msi.close())
  t.equal(await azureBearer('f', { IDENTITY_ENDPOINT: `${msi.url}/msi/token`, IDENTITY_HEADER: 'app-svc-secret' }).get(), 'appsvc(https://cognitiveservices.azure.com,2019-08-01)')
  t.equal(await azureBearer('f', { AZURE_POD_IDENTITY_AUTHORITY_HOST: msi.url }).get(), 'imds(https://cognitiveservices.azure.com,-)')
  t.equal(await azureBearer('f', { AZURE_POD_IDENTITY_AUTHORITY_HOST: msi.url, AZURE_CLIENT_ID: 'uami-1' }).get(), 'imds(https://cognitiveservices.azure.com,uami-1)', 'a user-assigned identity')
  await t.rejects(azureBearer('f', { AZURE_POD_IDENTITY_AUTHORITY_HOST: msi.url, AZURE_CLIENT_ID: 'missing' }).get(), /Identity not found — is a managed identity assigned/)
})

t.test('Google: static token, the metadata server (workload identity), an external-account key file', async (t) => {
  t.equal(await googleBearer({ access_token: 'ya29.static' }, 'vx').get(), 'ya29.static')
  let n = 0
  const meta = await tinyServer((s, res) => {
    if (s.headers['metadata-flavor'] !== 'Google') { res.writeHead(403); res.end(); return }
    const h = { 'metadata-flavor': 'Google' }
    if (s.url.startsWith('/computeMetadata/v1/instance/service-accounts/default/token')) { sendJson(res, 200, { access_token: `ya29.meta${++n}`, expires_in: 3599, token_type: 'Bearer' }, h); return }
    if (s.url.startsWith('/computeMetadata/v1/universe/universe-domain')) { res.writeHead(200, { ...h, 'content-type': 'text/plain' }); res.end('googleapis.com'); return }
    if (s.url.startsWith('/computeMetadata/v1/project/project-id')) { res.writeHead(200, { ...h, 'content-type': 'text/plain' }); res.end('corp-prod'); return }
    res.writeHead(404, h); res.end()
  })
  t.teardown(() => meta.close())
  const saved = { ...process.env }
  t.teardown(() => { for (const k of ['GCE_METADATA_HOST', 'METADATA_SERVER_DETECTION', 'GOOGLE_APPLICATION_CREDENTIALS', 'HOME']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k] } })
  process.env.GCE_METADATA_HOST = meta.url.replace('http://', '')
  process.env.METADATA_SERVER_DETECTION = 'assume-present'
  process.env.HOME = dir
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS
  const adc = googleBearer({}, 'vx-adc', 'adc-test-project')
  t.equal(await adc.get(), 'ya29.meta1')
  t.equal(adc.peek(), 'ya29.meta1', 'cached')
  adc.invalidate()
  t.equal(await adc.get(), 'ya29.meta2', 'invalidation makes the library fetch a new token too')

  const sts = await tinyServer((s, res) => {
    const f = form(s.body)
    if (f.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange' || f.subject_token !== 'k8s-sa-jwt') { sendJson(res, 400, { error: 'invalid_grant' }); return }
    sendJson(res, 200, { access_token: 'ya29.federated', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 })
  })
  t.teardown(() => sts.close())
  const keyFile = file('external-account.json', JSON.stringify({
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${sts.url}/v1/token`,
    credential_source: { file: file('k8s-sa-token', 'k8s-sa-jwt') },
  }))
  t.equal(await googleBearer({ service_account_json: keyFile }, 'vx-file', 'file-test-project').get(), 'ya29.federated')
  await t.rejects(googleBearer({ service_account_json: join(dir, 'missing.json') }, 'vx-missing', 'p-missing').get(), /vx-missing: no Google credentials \(service_account_json/)
})

t.test('Anthropic workload identity federation: jwt-bearer exchange, cached, file re-read', async (t) => {
  let ttl = 3600
  const tokens = await tinyServer((s, res) => {
    const b = JSON.parse(s.body.toString()) as Record<string, string>
    if (s.url !== '/v1/oauth/token' || s.headers['anthropic-beta'] !== 'oauth-2025-04-20,oidc-federation-2026-04-01') { sendJson(res, 404, {}); return }
    if (b.assertion === 'revoked') { sendJson(res, 401, { error: 'invalid_grant', error_description: 'assertion rejected', secret_field: 'not logged' }, { 'request-id': 'req_x' }); return }
    sendJson(res, 200, { access_token: `sk-ant-oat-${b.assertion}-${b.workspace_id ?? ''}`, token_type: 'Bearer', expires_in: ttl })
  })
  t.teardown(() => tokens.close())
  const jwt = file('wif-jwt', 'jwt-a\n')
  const cfg = { federation_rule_id: 'fdrl_1', organization_id: 'org_1', identity_token_file: jwt, service_account_id: 'svac_1', workspace_id: 'wrkspc_1' }
  const b = federationBearer(cfg, new URL(tokens.url), 'anthropic')
  t.equal(await b.get(), 'sk-ant-oat-jwt-a-wrkspc_1')
  t.same(JSON.parse(tokens.seen[0]?.body.toString() ?? '{}'), { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'jwt-a', federation_rule_id: 'fdrl_1', organization_id: 'org_1', service_account_id: 'svac_1', workspace_id: 'wrkspc_1' })
  t.equal(b.peek(), 'sk-ant-oat-jwt-a-wrkspc_1')
  writeFileSync(jwt, 'jwt-b')
  b.invalidate()
  t.equal(await b.get(), 'sk-ant-oat-jwt-b-wrkspc_1', 'a new exchange re-reads the token file')
  ttl = 10
  b.invalidate()
  await b.get()
  t.equal(b.peek(), null, 'a bearer in its last 30 s is not used')
  writeFileSync(jwt, 'revoked')
  await t.rejects(b.get(), /token exchange failed with 401 \(request-id req_x\): invalid_grant: assertion rejected$/)
  await t.rejects(federationBearer(cfg, new URL('http://api.example.com'), 'anthropic').get(), /refusing to send a workload identity token over http:/)
  await t.rejects(federationBearer({ ...cfg, identity_token_file: join(dir, 'none') }, new URL(tokens.url), 'anthropic').get(), /cannot read identity_token_file/)
})
