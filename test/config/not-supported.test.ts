/* eslint-disable no-template-curly-in-string */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { validate } from 'superstruct'
import { parse as parseYamlText, stringify } from 'yaml'
import { BootError } from '../../lib/errors.js'
import { parseConfig } from '../../lib/config/load.js'
import { findRefusals } from '../../lib/config/not-supported.js'
import { ConfigSchema, NOT_SUPPORTED_YET } from '../../lib/config/schema.js'
import { withEnv } from '../../lib/config/schema/urls.js'
import { ROOT } from '../../lib/version.js'

const SECRET = 'a-secret-of-more-than-32-characters-long'
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const base = (): Obj => ({
  listen: { host: '127.0.0.1' },
  oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
  session: { jwt_secret: SECRET },
  store: { postgres_url: 'postgres://weir@db.example.com/weir' },
  upstreams: [{ provider: 'anthropic', auth: { api_key: 'sk-test' } }],
})

function lines (fn: () => unknown): string[] {
  try { fn() } catch (err) { if (err instanceof BootError) return [...err.lines]; throw err }
  return []
}

t.test('the full example parses with only not-supported-yet refusals', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-full-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pg = join(dir, 'pg-password')
  writeFileSync(pg, 'pg-pass\n')
  const text = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'full-example.yaml'), 'utf8').replaceAll('/secrets/pg-password', pg)
  const env = {
    OIDC_CLIENT_SECRET: 'oidc-secret',
    JWT_SECRET_NEW: SECRET + '-new',
    JWT_SECRET_OLD: SECRET + '-old',
    GATEWAY_POSTGRES_URL: 'postgres://gw@db.corp.example/gw?sslmode=require',
    ANTHROPIC_API_KEY: 'sk-ant',
    OTEL_TOKEN: 'otel-token',
    ADMIN_WRITE_KEY: 'w'.repeat(40),
    ADMIN_READ_KEY: 'r'.repeat(40),
  }
  t.same(lines(() => parseConfig(text, 'gateway.yaml', env)), [
    'gateway.yaml:13:3 oidc.allowed_email_domains: not supported yet',
    'gateway.yaml:14:3 oidc.userinfo_fallback: not supported yet',
    'gateway.yaml:15:3 oidc.scopes: not supported yet',
    'gateway.yaml:24:35 upstreams.0.provider: not supported yet (bedrock)',
    'gateway.yaml:25:35 upstreams.1.provider: not supported yet (bedrock)',
    'gateway.yaml:26:35 upstreams.2.provider: not supported yet (vertex)',
    'gateway.yaml:27:35 upstreams.3.provider: not supported yet (foundry)',
    'gateway.yaml:32:1 models: not supported yet',
    'gateway.yaml:38:1 managed: not supported yet',
    'gateway.yaml:51:3 telemetry.forward_to: not supported yet',
    'gateway.yaml:57:1 admin: not supported yet',
    'gateway.yaml:63:1 enforcement: not supported yet',
    'gateway.yaml:64:1 pricing: not supported yet',
  ])
  // and the schema itself accepts the whole file
  const [err, value] = withEnv(env, () => validate(parseYamlWithEnv(text, env), ConfigSchema, { coerce: true }))
  t.equal(err, undefined, 'schema-valid')
  t.equal(value?.store.password, 'pg-pass')
  t.same(value?.upstreams.map(u => u.name), ['bedrock-pt', 'bedrock-od', 'vertex', 'foundry', 'anthropic'])
})

/** Expand ${VAR} / ${file:} the simple way, for feeding the schema directly. */
function parseYamlWithEnv (text: string, env: Record<string, string>): unknown {
  const expanded = text
    .replace(/\$\{file:([^}]+)\}/g, (_m, p: string) => readFileSync(p, 'utf8').trim())
    .replace(/\$\{(\w+)\}/g, (_m, n: string) => env[n] as string)
  return parseYamlText(expanded) as unknown
}

t.test('only keys present in the file are refused; defaults never are', async (t) => {
  t.same(lines(() => parseConfig(stringify(base()), 'gateway.yaml', {})), [], 'defaults for telemetry, enforcement, models… do not trigger')
  const c = base()
  c.enforcement = { fail_closed_on_error: false }
  c.telemetry = {}
  c.oidc.use_pkce = true
  t.same(lines(() => parseConfig(stringify(c), 'gateway.yaml', {})), [
    'gateway.yaml:7:3 oidc.use_pkce: not supported yet',
    'gateway.yaml:16:1 enforcement: not supported yet',
  ], 'restating a default is still a refusal (presence counts); an empty telemetry block is fine')
})

t.test('errors inside a refused part are not reported; errors elsewhere are', async (t) => {
  const c = base()
  c.admin = { write_keys: [{ id: 'x', key: 'short' }], colour: 'red' }
  c.upstreams.push({ provider: 'bedrock', region: '', auth: { aws_access_key_id: 'AKIA' }, bogus: 1 })
  c.upstreams[0].auth.federation_rule_id = 'fr'
  c.listen.port = 'x'
  t.same(lines(() => parseConfig(stringify(c), 'gateway.yaml', {})), [
    'gateway.yaml:3:9 listen.port: Expected an integer, but received: "x"',
    'gateway.yaml:16:7 upstreams.0.auth.federation_rule_id: not supported yet',
    'gateway.yaml:17:15 upstreams.1.provider: not supported yet (bedrock)',
    'gateway.yaml:22:1 admin: not supported yet',
  ])
})

t.test('findRefusals: patterns', async (t) => {
  const data = {
    a: { b: 1, c: { d: 2 } },
    list: [{ kind: 'x', k: 1 }, { kind: 'y', k: 2 }, { kind: 'x' }],
    map: { one: { v: 1 }, two: { w: 2 } },
    skip: undefined,
  }
  const paths = (entries: string[]): string[] => findRefusals(data, entries).map(r => `${r.path.join('.')}|${r.scope.join('.')}|${r.message}`)
  t.same(paths(['a.b']), ['a.b|a.b|not supported yet'])
  t.same(paths(['a.c.d', 'a.zz', 'zz.top']), ['a.c.d|a.c.d|not supported yet'], 'absent keys never match')
  t.same(paths(['list.*.k']), ['list.0.k|list.0.k|not supported yet', 'list.1.k|list.1.k|not supported yet'])
  t.same(paths(['list.1.kind']), ['list.1.kind|list.1.kind|not supported yet'], 'a literal index')
  t.same(paths(['list.*.kind=x']), ['list.0.kind|list.0|not supported yet (x)', 'list.2.kind|list.2|not supported yet (x)'])
  t.same(paths(['list.*.k=*']), ['list.0.k|list.0|not supported yet', 'list.1.k|list.1|not supported yet'])
  t.same(paths(['map.*.v']), ['map.one.v|map.one.v|not supported yet'])
  t.same(paths(['skip']), [], 'undefined values are absent')
  t.same(paths(['a', 'a.b', 'list.*.kind=x', 'list.*.k']), [
    'a|a|not supported yet',
    'list.0.kind|list.0|not supported yet (x)',
    'list.2.kind|list.2|not supported yet (x)',
    'list.1.k|list.1.k|not supported yet',
  ], 'refusals inside another refusal are dropped (outermost first)')
  t.same(findRefusals('not an object', ['a']), [])
})

/**
 * A schema-valid sample for each NOT_SUPPORTED_YET entry: adding it to the base config must give
 * exactly one refusal. Keeps the list honest (every entry is a real, accepted key).
 */
const pem = (name: string): string => readFileSync(join(ROOT, 'test', 'fixtures', 'config', name), 'utf8')
const SAMPLES: Record<string, (c: Obj) => void> = {
  'oidc.client_assertion': c => {
    delete c.oidc.client_secret
    c.oidc.token_endpoint_auth_method = 'private_key_jwt'
    c.oidc.client_assertion = { private_key_pem: pem('client-assertion.key.pem'), certificate_pem: pem('client-assertion.cert.pem') }
  },
  'oidc.ca_cert_pem': c => { c.oidc.ca_cert_pem = '-----BEGIN CERTIFICATE-----' },
  'oidc.groups_claim': c => { c.oidc.groups_claim = '/realm_access/roles' },
  'oidc.email_claim': c => { c.oidc.email_claim = ['email', 'upn'] },
  'oidc.user_id_claim': c => { c.oidc.user_id_claim = 'oid' },
  'oidc.userinfo_fallback': c => { c.oidc.userinfo_fallback = true },
  'oidc.use_pkce': c => { c.oidc.use_pkce = false },
  'oidc.clock_skew_seconds': c => { c.oidc.clock_skew_seconds = '30' },
  'oidc.token_endpoint_auth_method': c => { c.oidc.token_endpoint_auth_method = 'client_secret_basic' },
  'oidc.id_token_signed_response_alg': c => { c.oidc.id_token_signed_response_alg = 'ES256' },
  'oidc.additional_authorized_parties': c => { c.oidc.additional_authorized_parties = ['other-app'] },
  'oidc.discovery_url': c => { c.oidc.discovery_url = 'https://idp.example.com/tenant/.well-known/openid-configuration' },
  'oidc.use_proxy': c => { c.oidc.use_proxy = true },
  'oidc.scopes': c => { c.oidc.scopes = ['openid', 'email', 'offline_access'] },
  'oidc.scope_on_refresh': c => { c.oidc.scope_on_refresh = true },
  'oidc.extra_auth_params': c => { c.oidc.extra_auth_params = { prompt: 'consent' } },
  'oidc.allowed_email_domains': c => { c.oidc.allowed_email_domains = ['@Example.com'] },
  'oidc.form_action_origins': c => { c.oidc.form_action_origins = ['https://sso.example.com/path'] },
  'oidc.allowed_groups': c => { c.oidc.allowed_groups = ['eng'] },
  'oidc.google_groups': c => { c.oidc.google_groups = { service_account_json_path: '/sa.json', admin_email: 'admin@example.com' } },
  'upstreams.*.provider=bedrock': c => { c.upstreams.push({ name: 'b', provider: 'bedrock', region: 'us-east-1' }) },
  'upstreams.*.provider=mantle': c => { c.upstreams.push({ name: 'm', provider: 'mantle', region: 'us-east-1', models: ['claude-opus-4-8'] }) },
  'upstreams.*.provider=anthropicAws': c => { c.upstreams.push({ name: 'a', provider: 'anthropicAws', region: 'us-east-1', workspace_id: 'wrkspc' }) },
  'upstreams.*.provider=anthropicGoogleCloud': c => { c.upstreams.push({ name: 'g', provider: 'anthropicGoogleCloud', project_id: 'p', workspace_id: 'w' }) },
  'upstreams.*.provider=vertex': c => { c.upstreams.push({ name: 'v', provider: 'vertex', region: 'global', project_id: 'p' }) },
  'upstreams.*.provider=foundry': c => { c.upstreams.push({ name: 'f', provider: 'foundry', resource: 'corp-ai', auth: { api_key: 'k' } }) },
  'upstreams.*.auth.federation_rule_id=*': c => { c.upstreams[0].auth = { federation_rule_id: 'fdrl_1', organization_id: 'org', identity_token_file: '/var/run/token' } },
  'upstreams.*.headers': c => { c.upstreams[0].headers = { 'x-team': 'platform' } },
  'upstreams.*.groups': c => { c.upstreams[0].groups = ['eng'] },
  'upstreams.*.models': c => { c.upstreams[0].models = ['claude-opus-4-8'] },
  models: c => { c.models = [{ id: 'claude-opus-4-8', upstream_model: { anthropic: 'claude-opus-4-8' } }] },
  login_notice: c => { c.login_notice = 'Use is monitored.' },
  managed: c => { c.managed = { policies: [{ match: { emails: ['Dev@Example.com'] }, cli: { env: { A: '1' } } }, { cli: {} }] } },
  'telemetry.forward_to': c => { c.telemetry = { forward_to: [{ url: 'https://otel.example.com' }] } },
  'telemetry.resource_attributes': c => { c.telemetry = { resource_attributes: { 'team.name': 'core' } } },
  admin: c => { c.admin = { admin_groups: ['finops'], billing_group_tag: 'cost-center' } },
  enforcement: c => { c.enforcement = { fail_closed_on_error: false } },
  pricing: c => { c.pricing = { multiplier: '0.5' }; c.admin = {} },
  cri: c => { c.cri = { enabled: false } },
  load_test_mode: c => { c.load_test_mode = { enabled: true } },
}

t.test('every NOT_SUPPORTED_YET entry is a schema-valid key, refused on its own', async (t) => {
  for (const entry of NOT_SUPPORTED_YET) {
    const sample = SAMPLES[entry]
    if (sample === undefined) { t.fail(`no sample for ${entry}: add one to SAMPLES`); continue }
    const c = base()
    sample(c)
    const [err] = validate(JSON.parse(JSON.stringify(c)), ConfigSchema, { coerce: true })
    t.equal(err?.failures().map(f => `${f.path.join('.')}: ${f.message}`).join('\n'), undefined, `${entry}: sample is schema-valid`)
    const matched = findRefusals(JSON.parse(JSON.stringify(c)), [entry])
    t.equal(matched.length, 1, `${entry}: the sample has the key once`)
    const got = lines(() => parseConfig(stringify(c), 'gateway.yaml', {}))
    t.ok(got.some(l => l.includes(` ${matched[0]?.path.join('.') ?? '?'}: not supported yet`)), `${entry}: refused`)
    t.ok(got.every(l => / not supported yet( \(\w+\))?$/.test(l)), `${entry}: only not-supported-yet lines`)
  }
})
