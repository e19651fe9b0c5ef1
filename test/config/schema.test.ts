/**
 * The schema's rules, checked on the schema directly (most of these sections are refused by the
 * loader as not supported yet, but the schema already validates them).
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { validate } from 'superstruct'
import { describeFailure, pruneFailures } from '../../lib/config/messages.js'
import { type Config, ConfigSchema } from '../../lib/config/schema.js'
import { withEnv } from '../../lib/config/schema/urls.js'
import { ROOT } from '../../lib/version.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const SECRET = 'a-secret-of-more-than-32-characters-long'

const base = (): Obj => ({
  listen: { host: '127.0.0.1' },
  oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
  session: { jwt_secret: SECRET },
  store: { postgres_url: 'postgres://weir@db.example.com/weir' },
  upstreams: [{ provider: 'anthropic', auth: { api_key: 'sk-test' } }],
})

function run (edit: (c: Obj) => void, env: NodeJS.ProcessEnv = {}): { errors: string[], value: Config | undefined } {
  const c = base()
  edit(c)
  const [err, value] = withEnv(env, () => validate(JSON.parse(JSON.stringify(c)), ConfigSchema, { coerce: true }))
  return { errors: err === undefined ? [] : pruneFailures(err.failures()).map(f => `${f.path.join('.')}: ${describeFailure(f).message}`), value }
}
const errors = (edit: (c: Obj) => void, env: NodeJS.ProcessEnv = {}): string[] => run(edit, env).errors
function ok (t: Test, edit: (c: Obj) => void, env: NodeJS.ProcessEnv = {}): Config {
  const r = run(edit, env)
  t.same(r.errors, [], 'valid')
  return r.value as Config
}
const up = (u: Obj) => (c: Obj): void => { c.upstreams = [u] }

t.test('upstream name defaults to the provider string', async (t) => {
  const c = ok(t, c => {
    c.upstreams = [
      { provider: 'anthropic', auth: { oauth_token: 't' } },
      { provider: 'bedrock', region: 'us-east-1' },
      { provider: 'mantle', region: 'us-east-1', models: ['m'] },
      { provider: 'anthropicAws', region: 'eu-west-1', workspace_id: 'ws_1' },
      { provider: 'anthropicGoogleCloud', project_id: 'p', workspace_id: 'w' },
      { provider: 'vertex', region: 'global', project_id: 'p' },
      { provider: 'foundry', resource: 'corp-ai', auth: { use_azure_ad: true } },
      { provider: 'mock' },
    ]
  })
  t.same(c.upstreams.map(u => u.name), ['anthropic', 'bedrock', 'mantle', 'anthropicAws', 'anthropicGoogleCloud', 'vertex', 'foundry', 'mock'])
  t.same(c.upstreams[1], { provider: 'bedrock', name: 'bedrock', region: 'us-east-1', auth: {} })
  t.match(c.upstreams[4], { location: 'global', auth: {} })
  t.same(errors(c => { c.upstreams = [] }), ['upstreams: needs at least one upstream'])
  t.same(errors(c => { c.upstreams = { provider: 'mock' } }), ['upstreams: Expected a list, but received: a mapping'])
  t.same(errors(c => { c.listen = [1, 2]; c.oidc.extra_auth_params = 'a=b' }), [
    'listen: Expected a mapping, but received: a list',
    'oidc.extra_auth_params: Expected a mapping, but received: "a=b"',
  ])
  t.same(errors(c => { c.upstreams = ['anthropic'] }), ['upstreams.0: Expected a mapping, but received: "anthropic"'])
  t.same(errors(up({ auth: { api_key: 'k' } })), ['upstreams.0.provider: must be one of anthropic, bedrock, mantle, anthropicAws, anthropicGoogleCloud, vertex, foundry, mock, but received: nothing'])
})

t.test('anthropic auth is exactly one shape', async (t) => {
  t.same(errors(up({ provider: 'anthropic', auth: {} })), ['upstreams.0.auth: needs exactly one of api_key, oauth_token or federation_rule_id'])
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'a', oauth_token: 'b' } })), ['upstreams.0.auth: must use exactly one of api_key, oauth_token or federation_rule_id, not several'])
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: '' } })), ['upstreams.0.auth.api_key: Expected a non-empty string'])
  t.same(errors(up({ provider: 'anthropic', auth: 'sk' })), ['upstreams.0.auth: Expected a mapping, but received a value that is not shown (secret)'])
  t.same(errors(up({ provider: 'anthropic', auth: { federation_rule_id: 'f', organization_id: 'o', identity_token_file: '/t', workspace_id: 'w' } })), [])
  t.same(errors(up({ provider: 'anthropic', auth: { organization_id: 'o' } })), [
    'upstreams.0.auth.federation_rule_id: missing required key',
    'upstreams.0.auth.identity_token_file: missing required key',
  ])
})

t.test('cloud providers', async (t) => {
  t.same(errors(up({ provider: 'bedrock', region: 'us-east-1', auth: { aws_access_key_id: 'AKIA' } })), ['upstreams.0.auth: aws_access_key_id and aws_secret_access_key must be set together'])
  t.same(errors(up({ provider: 'bedrock', region: 'us-east-1', auth: { aws_session_token: 'x' } })), ['upstreams.0.auth: aws_session_token requires aws_access_key_id and aws_secret_access_key'])
  t.same(errors(up({ provider: 'anthropicAws', region: 'us-east-1', workspace_id: 'w', auth: { aws_secret_access_key: 's' } })), ['upstreams.0.auth: aws_access_key_id and aws_secret_access_key must be set together'])
  t.same(errors(up({ provider: 'anthropicAws', region: 'US East', workspace_id: 'has space' })), [
    'upstreams.0.region: must be an AWS region (lowercase letters, digits and hyphens)',
    'upstreams.0.workspace_id: must be a valid header value (printable ASCII, no spaces)',
  ])
  t.same(errors(up({ provider: 'bedrock', region: '' })), ['upstreams.0.region: Expected a non-empty string'])
  t.same(errors(up({ provider: 'mantle', region: 'us-east-1' })), ['upstreams.0.models: missing required key'])
  t.same(errors(up({ provider: 'vertex', region: 'global' })), ['upstreams.0.project_id: missing required key'])
  for (const resource of ['corp-foundry', 'AB', 'a'.repeat(64)]) t.same(errors(up({ provider: 'foundry', resource, auth: { api_key: 'k' } })), [], resource)
  for (const resource of ['a', '-corp', 'corp-', 'a'.repeat(65), 'corp.ai']) {
    t.same(errors(up({ provider: 'foundry', resource, auth: { api_key: 'k' } })), ['upstreams.0.resource: must be 2-64 letters, digits or hyphens, not starting or ending with a hyphen'], resource)
  }
  t.same(errors(up({ provider: 'foundry', resource: 'corp', auth: {} })), ['upstreams.0.auth: needs exactly one of api_key or use_azure_ad'])
  t.same(errors(up({ provider: 'foundry', resource: 'corp', auth: { api_key: 'k', use_azure_ad: true } })), ['upstreams.0.auth: must use exactly one of api_key or use_azure_ad, not several'])
  t.match(errors(up({ provider: 'foundry', resource: 'corp', auth: { use_azure_ad: false } })), [/^upstreams\.0\.auth\.use_azure_ad: Expected the literal `true`/])
  t.same(errors(up({ provider: 'foundry', auth: { api_key: 'k' }, base_url: 'https://sovereign.example' })), ['upstreams.0.resource: missing required key'], 'resource required even with base_url')
  t.same(errors(c => {
    c.upstreams = [
      { name: 'b1', provider: 'bedrock', region: 'r', guardrail: { id: 'g', version: '1' } },
      { name: 'b2', provider: 'bedrock', region: 'r' },
      { name: 'm', provider: 'mantle', region: 'r', models: ['x'] },
      { name: 'b3', provider: 'bedrock', region: 'r', guardrail: { id: 'g', version: '1', input_tagging: 'last_message' }, assume_role: { role_arn: 'arn:aws:iam::123456789012:role/gw' }, auth: { aws_bearer_token: 't' } },
    ]
  }), [
    'upstreams.3.assume_role: needs SigV4 source credentials (access keys or the AWS default chain); aws_bearer_token cannot call sts:AssumeRole',
    'upstreams: set guardrail on all bedrock upstreams or on none: failover could otherwise reach a bedrock upstream without it',
    'upstreams: set the same guardrail.input_tagging on all bedrock upstreams',
    'upstreams: a mantle upstream cannot sit beside a bedrock upstream with a guardrail: no guardrail is applied on Mantle',
  ])
  t.same(errors(up({ provider: 'bedrock', region: 'r', assume_role: { role_arn: 'arn:aws:iam::1:role/x', session_name: 'name' } })), [
    'upstreams.0.assume_role.role_arn: must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    'upstreams.0.assume_role.session_name: Expected one of email, sub, but received: "name"',
  ])
})

t.test('upstream names, headers, groups and models', async (t) => {
  t.same(errors(c => { c.upstreams = [{ provider: 'mock' }, { provider: 'bedrock', region: 'r', name: 'mock' }] }), [
    "upstreams.1.name: duplicate upstream name 'mock': give each upstream a distinct name",
  ])
  const headers = (h: Obj): string[] => errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, headers: h }))
  t.same(headers({ 'x-team': 'core', 'X-Trace-Id': 'abc 123' }), [])
  t.same(headers({ Authorization: 'Bearer x', 'anthropic-beta': 'b', 'X-Amz-Date': 'd', 'bad name': 'v', 'x-a': ' padded', 'X-Team': 'a', 'x-team': 'b' }), [
    "upstreams.0.headers.Authorization: header 'Authorization' is reserved (set or signed by the gateway or the provider SDK)",
    "upstreams.0.headers.anthropic-beta: header 'anthropic-beta' is reserved (set or signed by the gateway or the provider SDK)",
    "upstreams.0.headers.X-Amz-Date: header 'X-Amz-Date' is reserved (set or signed by the gateway or the provider SDK)",
    "upstreams.0.headers.bad name: header 'bad name' is not a valid HTTP header name",
    "upstreams.0.headers.x-a: header 'x-a' needs a non-empty printable-ASCII value without surrounding spaces",
    "upstreams.0.headers.x-team: header 'x-team' is listed twice (header names ignore case)",
  ])
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, groups: [], models: [''] })), [
    'upstreams.0.groups: needs at least one group; remove the key to serve everyone',
    'upstreams.0.models.0: Expected a non-empty string',
  ])
})

t.test('forward_user_identity is refused for Anthropic hosts', async (t) => {
  const fwd = (base_url?: string): string[] => errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, forward_user_identity: true, ...(base_url === undefined ? {} : { base_url }) }))
  for (const u of [undefined, 'https://api.anthropic.com', 'https://anthropic.com.', 'https://eu.anthropic.com', 'https://aws-external-anthropic.us-east-1.api.aws', 'https://claude.googleapis.com']) {
    t.same(fwd(u), ['upstreams.0.forward_user_identity: is for a proxy you run at base_url; it is refused for Anthropic hosts so user emails never reach Anthropic'], String(u))
  }
  t.same(fwd('https://litellm.corp.example'), [])
  t.same(fwd('https://notanthropic.com'), [])
})

t.test('SSRF checks on operator URLs', async (t) => {
  const metadata = ['http://metadata.google.internal/x', 'http://metadata.goog', 'http://metadata', 'http://METADATA./', 'http://instance-data',
    'http://169.254.169.254/latest', 'http://100.100.100.200', 'http://[fd00:ec2::254]', 'http://[::ffff:169.254.169.254]', 'http://[64:ff9b::a9fe:a9fe]',
    'http://168.63.129.16', 'http://[fe80::1]', 'http://0.1.2.3']
  for (const url of metadata) {
    t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: url }), { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }),
      ['upstreams.0.base_url: targets a cloud metadata endpoint'], `base_url ${url}`)
    t.same(errors(c => { c.oidc.issuer = url }, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }), ['oidc.issuer: targets a cloud metadata endpoint'], `issuer ${url}`)
  }
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: 'ftp://proxy.example' })), ['upstreams.0.base_url: must be an http(s) URL'])
  t.same(errors(up({ provider: 'bedrock', region: 'r', base_url: 'not a url' })), ['upstreams.0.base_url: must be an absolute http(s) URL'])
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: 'http://a..b/' })), ['upstreams.0.base_url: has an invalid host name'])
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: 'http://127.0.0.1:9100' })), [], 'a loopback base_url is allowed')
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: 'http://10.1.2.3:4000' })), [], 'a private address is allowed')
  t.same(errors(up({ provider: 'anthropic', auth: { api_key: 'k' }, base_url: 'https://[2001:db8::1]/' })), [], 'so is a global IPv6 address')

  const loopback = 'is a literal loopback address, refused unless CLAUDE_GATEWAY_ALLOW_LOOPBACK is set'
  for (const issuer of ['http://127.0.0.1:5556', 'http://127.9.9.9', 'http://[::1]:5556', 'http://0.0.0.0']) {
    t.same(errors(c => { c.oidc.issuer = issuer }), [`oidc.issuer: ${loopback}`], issuer)
    t.same(errors(c => { c.oidc.issuer = issuer }, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '' }), [`oidc.issuer: ${loopback}`], `${issuer}, empty variable`)
    t.same(errors(c => { c.oidc.issuer = issuer }, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: 'yes' }), [], `${issuer} with the variable set`)
  }
  t.same(errors(c => { c.oidc.issuer = 'http://localhost:5556' }), [], 'the name localhost passes (blocked at connect time)')

  const otlp = (url: string, env: NodeJS.ProcessEnv = {}): string[] => errors(c => { c.telemetry = { forward_to: [{ url }] } }, env)
  t.same(otlp('https://otel.example.com:4318'), [])
  t.same(otlp('http://otel.example.com'), ['telemetry.forward_to.0.url: must be https:// (http:// only for loopback)'])
  t.same(otlp('http://localhost:4318'), [])
  t.same(otlp('http://127.0.0.1:4318'), [`telemetry.forward_to.0.url: ${loopback}`])
  t.same(otlp('http://[::1]:4318', { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }), [])
  t.same(otlp('https://169.254.169.254'), ['telemetry.forward_to.0.url: targets a cloud metadata endpoint'])
})

t.test('oidc rules', async (t) => {
  const o = (edit: Obj): string[] => errors(c => { Object.assign(c.oidc, edit) })
  t.same(o({ scopes: ['profile', 'email'] }), ['oidc.scopes: must include openid, or the IdP returns no id_token'])
  t.same(o({ scopes: ['openid', 'a b'] }), ['oidc.scopes.1: must be a single OAuth scope token (no whitespace)'])
  t.same(o({ scopes: ['openid', ' '] }), ['oidc.scopes.1: Expected a non-empty string'])
  t.same(ok(t, c => { c.oidc.scopes = [' openid ', 'groups'] }).oidc?.scopes, ['openid', 'groups'], 'trimmed')
  t.same(o({ extra_auth_params: { prompt: 'consent', redirect_uri: 'x', state: 's' } }), [
    'oidc.extra_auth_params: must not set redirect_uri, state: the gateway manages those parameters itself (use oidc.scopes for scope)',
  ])
  t.same(o({ discovery_url: 'https://idp.example.com/tenant' }), ['oidc.discovery_url: must be the discovery document itself (a path containing /.well-known/); any other path gets /.well-known/openid-configuration appended'])
  t.same(ok(t, c => { c.oidc.allowed_email_domains = [' @Corp.Example ', '', 'b.example'] }).oidc?.allowed_email_domains, ['corp.example', 'b.example'])
  t.same(o({ allowed_email_domains: ['', ' @ '] }), ['oidc.allowed_email_domains: contains only empty entries'])
  t.same(ok(t, c => { c.oidc.allowed_email_domains = [] }).oidc?.allowed_email_domains, [])
  t.same(ok(t, c => { c.oidc.allowed_groups = [' eng ', ''] }).oidc?.allowed_groups, ['eng'])
  t.same(o({ allowed_groups: [' '] }), ['oidc.allowed_groups: contains only empty entries'])
  t.same(o({ google_groups: { service_account_json_path: '/sa.json', admin_email: 'nope' } }), ['oidc.google_groups.admin_email: must be an email address'])
  t.same(ok(t, c => { c.oidc.form_action_origins = ['https://sso.example.com/login?x=1'] }).oidc?.form_action_origins, ['https://sso.example.com'])
  t.same(o({ form_action_origins: ['http://169.254.169.254/'] }), ['oidc.form_action_origins.0: targets a cloud metadata endpoint'])
  t.same(ok(t, c => { c.oidc.email_claim = ['email', 'upn'] }).oidc?.email_claim, ['email', 'upn'])
  t.same(o({ email_claim: [] }), ['oidc.email_claim: Expected a non-empty list'])
  t.same(o({ token_endpoint_auth_method: 'none' }), ['oidc.token_endpoint_auth_method: Expected one of client_secret_basic, client_secret_post, private_key_jwt, but received: "none"'])
  t.same(o({ clock_skew_seconds: '-1' }), ['oidc.clock_skew_seconds: Expected an integer of at least 0, but received: -1'])
  t.same(errors(c => { delete c.oidc.client_secret }), ['oidc.client_secret: required unless token_endpoint_auth_method is private_key_jwt (certificate credentials, given in a client_assertion block)'])
})

t.test('private_key_jwt client assertions', async (t) => {
  const fixture = (n: string): string => readFileSync(join(ROOT, 'test', 'fixtures', 'config', n), 'utf8')
  const key = fixture('client-assertion.key.pem')
  const cert = fixture('client-assertion.cert.pem')
  const jwt = (a: Obj | undefined, secret?: string): string[] => errors(c => {
    c.oidc = { issuer: 'https://idp.example.com', client_id: 'weir', token_endpoint_auth_method: 'private_key_jwt', ...(a === undefined ? {} : { client_assertion: a }), ...(secret === undefined ? {} : { client_secret: secret }) }
  })
  t.same(jwt({ private_key_pem: key, certificate_pem: cert }), [])
  t.same(jwt({ private_key_pem: key, certificate_pem: cert }, 's'), ['oidc.client_secret: must be removed when token_endpoint_auth_method is private_key_jwt'])
  t.same(jwt(undefined), ['oidc.client_assertion: required (private_key_pem and certificate_pem) when token_endpoint_auth_method is private_key_jwt'])
  t.same(errors(c => { c.oidc.client_assertion = { private_key_pem: key, certificate_pem: cert } }), ['oidc.client_assertion: only used with token_endpoint_auth_method: private_key_jwt'])
  const at = 'oidc.client_assertion.'
  t.same(jwt({ private_key_pem: 'garbage', certificate_pem: cert }), [`${at}private_key_pem: is not a readable PEM private key (PKCS#8 or PKCS#1)`])
  const enc = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  t.same(jwt({ private_key_pem: enc.privateKey, certificate_pem: cert }), [`${at}private_key_pem: is passphrase-protected; give the key as an unencrypted PEM`])
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  t.same(jwt({ private_key_pem: ec.privateKey, certificate_pem: cert }), [`${at}private_key_pem: must be an RSA key (assertions are signed with RS256), not ec`])
  const small = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  t.same(jwt({ private_key_pem: small.privateKey, certificate_pem: cert }), [`${at}private_key_pem: must be an RSA key of at least 2048 bits, not 1024`])
  t.same(jwt({ private_key_pem: key, certificate_pem: cert + cert }), [`${at}certificate_pem: must hold only the client certificate, not a chain`])
  t.same(jwt({ private_key_pem: key, certificate_pem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }), [`${at}certificate_pem: is not a readable PEM certificate`])
  const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  t.same(jwt({ private_key_pem: other.privateKey, certificate_pem: cert }), [`${at}certificate_pem: does not belong to private_key_pem`])
  t.same(jwt({ private_key_pem: '', certificate_pem: cert }), [`${at}private_key_pem: Expected a non-empty string`], 'an empty field is reported once')
})

t.test('models and pricing reference configured upstreams', async (t) => {
  t.same(errors(c => { c.models = [{ id: 'm', upstream_model: { anthropic: 'a', ghost: 'b' } }, { id: 'n', upstream_model: {} }] }), [
    'models.1.upstream_model: must name at least one upstream',
    "models.0.upstream_model.ghost: references unknown upstream 'ghost'",
  ], 'cross-section rules still run when another entry failed only a refinement')
  t.same(errors(c => { c.models = [{ id: 'm', upstream_model: { anthropic: 'a', ghost: 'b' } }] }), ["models.0.upstream_model.ghost: references unknown upstream 'ghost'"])
  const row = (upstream: string, model: string): Obj => ({ upstream, model, input: 3, output: '15', cache_read: 0.3, cache_write: 3.75 })
  t.same(errors(c => { c.admin = {}; c.pricing = { overrides: [row('anthropic', 'claude-x'), row('ghost', 'y'), row('anthropic', 'CLAUDE-X')] } }), [
    "pricing.overrides.1.upstream: references unknown upstream 'ghost'",
    "pricing.overrides.2: duplicates the pricing override for 'claude-x' on upstream 'anthropic'",
  ])
  t.same(errors(c => { c.pricing = {} }), ['pricing: has no effect without an admin block or a managed block with at least one policy'])
  t.same(errors(c => { c.pricing = {}; c.managed = { policies: [{ cli: {} }] } }), [], 'managed policies are a reader of pricing')
  t.same(errors(c => { c.admin = {}; c.pricing = { multiplier: 0, overrides: [{ ...row('anthropic', 'm'), input: 0, output: 20000 }] } }), [
    'pricing.multiplier: Expected a number greater than 0, but received: 0',
    'pricing.overrides.0.input: Expected a number greater than 0, but received: 0',
    'pricing.overrides.0.output: Expected a number of at most 10000, but received: 20000',
  ])
  t.same(ok(t, c => { c.admin = {}; c.pricing = {} }).pricing, { multiplier: 1, overrides: [] })
})

t.test('admin and enforcement', async (t) => {
  t.same(errors(c => { c.enforcement = { fail_closed_on_error: true } }), ['enforcement.fail_closed_on_error: has no effect without an admin block: spend enforcement only runs when admin is configured'])
  t.same(errors(c => { c.enforcement = { fail_closed_on_error: true }; c.admin = {} }), [])
  const key = 'k'.repeat(32)
  t.same(errors(c => { c.admin = { read_keys: [{ id: 'ops', key }], write_keys: [{ id: 'ops', key }] } }), ["admin: admin key id 'ops' is repeated; key ids must be unique for audit attribution"])
  t.same(errors(c => { c.admin = { write_keys: [{ id: 'tf', key: 'short' }], admin_groups: ['ok', ''] } }), [
    'admin.write_keys.0.key: Expected a string of at least 32 characters',
    'admin.admin_groups.1: empty entry: set a group name or remove the entry',
  ])
  t.same(errors(c => { c.admin = { read_only_groups: ['auditors', ''] } }), ['admin.read_only_groups.1: empty entry: set a group name or remove the entry'])
  t.same(ok(t, c => { c.admin = { read_only_groups: ['auditors'] } }).admin?.read_only_groups, ['auditors'], 'the console\'s read-only groups (Weir extension)')
  t.same(ok(t, c => { c.admin = {} }).admin, {
    read_keys: [], write_keys: [], admin_groups: [], read_only_groups: [], audit_retention_days: 365, spend_retention_months: 13, identity_retention_days: 90, group_limit_mode: 'min',
    alerts: { thresholds: [0.75, 0.95], webhooks: [], max_attempts: 8 },
  })
  for (const tag of ['cost-center', 'a', 'team@corp:x/y=z+1', 'x'.repeat(64)]) t.same(errors(c => { c.admin = { billing_group_tag: tag } }), [], tag)
  for (const tag of ['Anthropic-tag', 'has space', 'x'.repeat(65), '']) {
    t.same(errors(c => { c.admin = { billing_group_tag: tag } }), ['admin.billing_group_tag: must be 1 to 64 ASCII letters, digits or _ . : / = + - @, not starting with "anthropic"'], JSON.stringify(tag))
  }
  t.same(errors(c => { c.admin = { pooled_conflict_rule: 'priority_list' } }), ['admin.pooled_priority_order: needs at least one group when pooled_conflict_rule is priority_list'])
  t.same(errors(c => { c.admin = { pooled_priority_order: ['a', 'a'] } }), ['admin.pooled_priority_order: lists a group more than once'])
})

t.test('admin.alerts (spend alerts, Weir extension)', async (t) => {
  const alerts = (a: Obj) => (c: Obj): void => { c.admin = { alerts: a } }
  t.same(ok(t, alerts({ thresholds: [0.5], webhooks: [{ url: 'https://hooks.slack.example/T1', format: 'slack' }, { name: 'ops', url: 'http://127.0.0.1:9/x', headers: { authorization: 'Bearer x' } }], max_attempts: 3 }), { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }).admin?.alerts, {
    thresholds: [0.5],
    webhooks: [{ url: 'https://hooks.slack.example/T1', format: 'slack', headers: {} }, { name: 'ops', url: 'http://127.0.0.1:9/x', format: 'json', headers: { authorization: 'Bearer x' } }],
    max_attempts: 3,
  })
  t.match(errors(alerts({ webhooks: [{ url: 'http://127.0.0.1:9/x' }] })), [/admin\.alerts\.webhooks\.0\.url: is a literal loopback address/], 'loopback only when allowed')
  t.same(ok(t, alerts({})).admin?.alerts, { thresholds: [0.75, 0.95], webhooks: [], max_attempts: 8 }, 'defaults')
  t.same(errors(alerts({ thresholds: [0, 1.5] })), [
    'admin.alerts.thresholds.0: Expected a number greater than 0, but received: 0',
    'admin.alerts.thresholds.1: Expected a number of at most 1, but received: 1.5',
  ])
  t.same(errors(alerts({ thresholds: [] })).length, 1, 'at least one threshold')
  t.same(errors(alerts({ thresholds: [0.75, 0.75] })), ['admin.alerts.thresholds: lists a threshold more than once'])
  t.same(errors(alerts({ webhooks: [{ url: 'http://hooks.example/x' }] })), ['admin.alerts.webhooks.0.url: must be https:// (http:// only for loopback)'])
  t.same(errors(alerts({ webhooks: [{ url: 'https://h.example/x', format: 'discord' }] })).length, 1, 'unknown format')
  t.same(errors(alerts({ webhooks: [{ url: 'https://h.example/x' }, { url: 'https://h.example/x' }] })), ['admin.alerts.webhooks: two webhooks share a name (or, unnamed, a URL): give each a distinct name'])
  t.same(errors(alerts({ max_attempts: 0 })).length, 1, 'max_attempts is positive')
})

t.test('managed policies', async (t) => {
  const m = ok(t, c => {
    c.managed = {
      policies: [
        { match: { email_domain: ' @Corp.Example ', emails: [' Alice@Corp.Example '] }, cli: { env: { A: '1' }, permissions: { deny: ['WebFetch'] }, n: [1, null, { x: true }] } },
        { match: { groups: ['eng'] }, settings: {}, desktop: {} },
        { cli: {} },
      ],
    }
  }).managed
  t.same(m?.policies?.[0]?.match, { email_domain: 'corp.example', emails: ['alice@corp.example'] })
  t.same(m?.policies?.[2]?.match, {}, 'match defaults to {} (catch-all)')
  const pol = (p: Obj): string[] => errors(c => { c.managed = { policies: [p] } })
  t.same(pol({ match: { groups: [] } }), ['managed.policies.0.match.groups: is empty, so the policy would match no one: list groups or remove the key'])
  t.same(pol({ match: { groups: ['a', ''] } }), ['managed.policies.0.match.groups.1: empty entry: set a group name or remove the entry'])
  t.same(pol({ match: { email_domain: ' @ ' } }), ['managed.policies.0.match.email_domain: is empty: set a domain or remove the key'])
  t.same(pol({ match: { email_domain: 'a.com, b.com' } }), ['managed.policies.0.match.email_domain: must be one bare domain (no @, whitespace or commas)'])
  t.same(pol({ match: { emails: [] } }), ['managed.policies.0.match.emails: is empty, so the policy would match no one: list addresses or remove the key'])
  t.same(pol({ match: { emails: ['not-an-address'] } }), ['managed.policies.0.match.emails.0: must be an email address'])
  t.same(pol({ match: { group: ['x'] } }), ['managed.policies.0.match.group: unknown key; did you mean `managed.policies.0.match.groups`?'])
  t.same(pol({ cli: 'nope' }), ['managed.policies.0.cli: Expected a mapping, but received: "nope"'])
  t.same(errors(c => { c.managed = { policies: [{ code: {} }, { cli: {} }, { code: {}, settings: {} }] } }), [
    "managed.policies.1.cli: this file uses `code` blocks, so put this policy's `cli` settings under `code` too (or use `cli` everywhere)",
    "managed.policies.2.settings: this file uses `code` blocks, so put this policy's `settings` settings under `code` too (or use `cli` everywhere)",
  ])
  t.same(errors(c => { c.managed = { policy_mode: 'layered', settings: '/etc/claude/managed.json' } }), [])
})

t.test('telemetry, cri, load_test_mode, login_notice', async (t) => {
  const dest = (d: Obj): string[] => errors(c => { c.telemetry = { forward_to: [{ url: 'https://telemetry.googleapis.com', ...d }] } })
  t.same(dest({ auth: { google: {} } }), [])
  t.same(ok(t, c => { c.telemetry = { forward_to: [{ url: 'https://otel.example.com' }] } }).telemetry.forward_to[0], { url: 'https://otel.example.com', headers: {}, metrics: true, logs: false, traces: false })
  t.same(dest({ url: 'https://otel.example.com', auth: { google: {} }, headers: { authorization: 'x' } }), [
    'telemetry.forward_to.0.auth.google: auth.google sends a Google access token, so url must be a googleapis.com host (got otel.example.com)',
    'telemetry.forward_to.0.auth.google: auth.google sets the Authorization header itself: remove Authorization from headers, or remove auth',
  ])
  t.same(dest({ metrics: 'yes' }), ['telemetry.forward_to.0.metrics: Expected true or false, but received: "yes"'])
  t.same(errors(c => { c.telemetry = { resource_attributes: { 'team.name': 'core', 'user.id': 'x', 'bad key': 'v', env: 'a,b' } } }), [
    "telemetry.resource_attributes.user.id: label 'user.id' is reserved; use another name",
    "telemetry.resource_attributes.bad key: label name 'bad key' may use only letters, digits, '.', '_' and '-' (255 at most)",
    "telemetry.resource_attributes.env: label 'env' needs a non-empty printable-ASCII value without spaces or , ; = \\ \" %",
  ])
  t.same(errors(c => { c.cri = { enabled: true } }), [
    'cri.audience: must list at least one audience when cri.enabled is true',
    'cri.org_allowlist: must list at least one organization UUID when cri.enabled is true',
  ])
  const cri = ok(t, c => { c.cri = { enabled: true, audience: [' gw '], org_allowlist: [' ABC-DEF '], issuer: 'https://cri.example.com/oauth', policy: { webhook: { url: 'https://policy.example.com' } } } }).cri
  t.same(cri, { enabled: true, audience: ['gw'], org_allowlist: ['abc-def'], issuer: 'https://cri.example.com/oauth', policy: { webhook: { url: 'https://policy.example.com', timeout_ms: 2000, fail_closed: true } } })
  t.same(errors(c => { c.cri = { issuer: 'https://cri.example.com/', jwks_url: 'https://keys.example.com', policy: { webhook: { url: 'http://policy.example.com', timeout_ms: 30001 } } } }), [
    'cri.jwks_url: must be a loopback URL (it exists only for tests against local mocks)',
    "cri.issuer: must not end with '/'",
    'cri.policy.webhook.url: must be https:// (http:// only for loopback)',
    'cri.policy.webhook.timeout_ms: Expected an integer of at most 30000, but received: 30001',
  ])
  t.same(errors(c => { c.cri = { jwks_url: 'http://127.0.0.1:1/jwks.json', issuer: 'https://cri.example.com/x?y=1' } }), [
    'cri.jwks_url: targets loopback but CLAUDE_GATEWAY_ALLOW_LOOPBACK is not set',
    'cri.issuer: must be a canonical URL with no query or fragment',
  ])
  t.same(errors(c => { c.cri = { jwks_url: 'http://127.0.0.1:1/jwks.json', issuer: 'http://localhost:9/cri' } }, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }), [])
  t.same(errors(c => { c.load_test_mode = {} }), ['load_test_mode.enabled: missing required key'])
  t.same(ok(t, c => { c.load_test_mode = { enabled: false } }).load_test_mode, { enabled: false, reply_tokens: 750, reply_seconds: 9.5 })
  t.equal(ok(t, c => { c.login_notice = '  Hello  ' }).login_notice, 'Hello')
  t.same(errors(c => { c.login_notice = 'x'.repeat(501) }), ['login_notice: must be 1 to 500 characters after trimming'])
})

t.test('server sections', async (t) => {
  t.same(errors(c => { c.listen.trusted_proxies = ['10.0.0.0/8', 'nope', '10.0.0.0/33'] }), [
    'listen.trusted_proxies.1: must be a valid IP or CIDR',
    'listen.trusted_proxies.2: must be a valid IP or CIDR',
  ])
  t.same(errors(c => { c.access_control = { deny_cidrs: ['::ffff:10.0.0.0/104', '2001:db8::/32'], allow_cidrs: [1] } }), ['access_control.allow_cidrs.0: Expected a string, but received: 1'])
  t.same(errors(c => { c.listen.port = 70000; c.listen.tls = { cert: '/c' } }), [
    'listen.port: Expected an integer of at most 65535, but received: 70000',
    'listen.tls.key: missing required key',
  ])
  t.same(errors(c => { c.store.connect_timeout_seconds = 61; c.store.readiness_grace_seconds = '3601'; c.session.ttl_hours = 0 }), [
    'session.ttl_hours: Expected a number greater than 0, but received: 0',
    'store.connect_timeout_seconds: Expected an integer of at most 60, but received: 61',
    'store.readiness_grace_seconds: Expected an integer of at most 3600, but received: 3601',
  ])
  t.same(errors(c => { c.store.postgres_url = 'postgresql://x' }), [])
})
