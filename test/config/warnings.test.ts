import t from 'tap'
import { validate } from 'superstruct'
import { redact, secretPath } from '../../lib/config/messages.js'
import { type Config, ConfigSchema } from '../../lib/config/schema.js'
import { configWarnings, noProxyCovers } from '../../lib/config/warnings.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function config (edit: (c: Obj) => void): Config {
  const c: Obj = {
    listen: { host: '127.0.0.1' },
    oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
    session: { jwt_secret: 'a-secret-of-more-than-32-characters-long' },
    store: { postgres_url: 'postgres://weir@db.example.com/weir' },
    upstreams: [{ provider: 'mock' }],
  }
  edit(c)
  const [err, value] = validate(c, ConfigSchema, { coerce: true })
  if (err !== undefined) throw err
  return value
}
const warn = (edit: (c: Obj) => void, env: NodeJS.ProcessEnv = {}): string[] =>
  configWarnings(config(edit), env).map(w => `${w.path.join('.')}: ${w.message}`)

t.test('no warnings for a plain config', async (t) => {
  t.same(warn(() => {}), [])
})

t.test('oidc warnings', async (t) => {
  t.same(warn(c => { c.oidc.scopes = ['openid', 'email'] }), [
    'oidc.scopes: offline_access is not requested, so the IdP may issue no refresh token and sessions end after session.ttl_hours',
  ])
  t.same(warn(c => { c.oidc.issuer = 'https://accounts.google.com' }), [
    'oidc.extra_auth_params: Google issues refresh tokens only with extra_auth_params access_type: offline and prompt: consent; without them developers sign in again every session',
    'oidc.scopes: Google does not accept the offline_access scope; leave it out and use extra_auth_params access_type: offline instead',
  ])
  t.same(warn(c => {
    c.oidc.issuer = 'https://accounts.google.com'
    c.oidc.extra_auth_params = { access_type: 'offline', prompt: 'consent' }
    c.oidc.scopes = ['openid', 'email', 'profile']
    c.oidc.allowed_groups = ['eng']
  }), ['oidc.allowed_groups: Google id_tokens carry no groups, so allowed_groups refuses everyone unless oidc.google_groups is set'])
  t.same(warn(c => { c.oidc.google_groups = { service_account_json_path: '/sa.json', admin_email: 'a@example.com' } }), [
    'oidc.google_groups: google_groups only works with the Google issuer (https://accounts.google.com); with this issuer every sign-in is refused',
  ])
  const proxy = 'oidc.issuer: a proxy is set in the environment but IdP requests go direct; set oidc.use_proxy to true to use the proxy, or false to silence this warning'
  t.same(warn(() => {}, { https_proxy: 'http://proxy:3128' }), [proxy])
  t.same(warn(() => {}, { HTTP_PROXY: 'http://proxy:3128', NO_PROXY: 'localhost, idp.example.com:443' }), [])
  t.same(warn(c => { c.oidc.use_proxy = false }, { HTTPS_PROXY: 'http://proxy:3128' }), [], 'explicit use_proxy silences it')
})

t.test('NO_PROXY matching', async (t) => {
  t.ok(noProxyCovers('*', 'idp.example.com'))
  t.ok(noProxyCovers('example.com', 'idp.example.com'))
  t.ok(noProxyCovers('.example.com', 'idp.example.com'))
  t.ok(noProxyCovers('*.example.com', 'idp.example.com'))
  t.ok(noProxyCovers('a.test,idp.example.com:8443', 'idp.example.com'))
  t.notOk(noProxyCovers('', 'idp.example.com'))
  t.notOk(noProxyCovers('ample.com', 'idp.example.com'))
})

t.test('other sections', async (t) => {
  t.same(warn(c => { c.telemetry = { forward_to: [{ url: 'https://otel.example.com' }] } }), [
    'telemetry.forward_to: telemetry.forward_to is set but listen.public_url is not, so clients are not told to export OTLP here',
  ])
  t.same(warn(c => { c.telemetry = { resource_attributes: { team: 'core' } } }), [
    'telemetry.resource_attributes: telemetry.resource_attributes is set but telemetry.forward_to is empty, so the labels are not applied',
  ])
  t.same(warn(c => { c.managed = { policies: [{ cli: {} }, { match: { groups: ['eng'] }, cli: {} }] } }), [
    'managed.policies.0: this catch-all policy (match: {}) is not the last one, so the policies after it never match; move it to the end',
  ])
  t.same(warn(c => { c.managed = { policies: [{ match: { emails: ['a@b.c'] }, cli: {} }, { cli: {} }] } }), [], 'catch-all last')
  t.same(warn(c => { c.cri = {} }), ['cri: the cri block has no effect while cri.enabled is false'])
  t.same(warn(c => { c.listen = { host: '0.0.0.0', public_url: 'http://localhost:8080' } }), [], 'http on loopback is fine')
})

t.test('secret-looking keys hide received values', async (t) => {
  for (const p of [['oidc', 'client_secret'], ['session', 'jwt_secret', 0], ['store', 'password'], ['upstreams', 0, 'auth'],
    ['upstreams', 0, 'auth', 'aws_access_key_id'], ['telemetry', 'forward_to', 0, 'headers', 'X-Custom'], ['admin', 'write_keys', 0, 'key'],
    ['oidc', 'client_assertion', 'private_key_pem'], ['upstreams', 0, 'auth', 'oauth_token']]) {
    t.ok(secretPath(p), p.join('.'))
  }
  for (const p of [['oidc', 'token_endpoint_auth_method'], ['listen', 'port'], ['upstreams', 0, 'name'], ['oidc', 'groups_claim'], ['cri', 'jwks_url']]) {
    t.notOk(secretPath(p), p.join('.'))
  }
  t.equal(redact(['store', 'password'], 'Expected a string, but received: 12345'), 'Expected a string, but received a value that is not shown (secret)')
  t.equal(redact(['listen', 'port'], 'Expected an integer, but received: "x"'), 'Expected an integer, but received: "x"')
})
