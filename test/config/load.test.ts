import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../lib/config/load.js'
import type { AnthropicUpstream, Config, MockUpstream, UpstreamConfig } from '../../lib/config/schema.js'
import { ROOT } from '../../lib/version.js'
import { BASE_YAML, CONFIG_SECRET, baseYaml, editLine, errorsOf, parse, refuse } from '../helpers/config.js'

const fixture = (name: string): string => join(ROOT, 'test', 'fixtures', 'config', name)
const LOOPBACK = { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }
const SECRET = CONFIG_SECRET
const base = baseYaml

t.test('the YAML the tests count lines in is what base() writes', async (t) => {
  t.equal(base(), BASE_YAML)
})

t.test('the minimal reference config validates', async (t) => {
  const loaded = loadConfig(fixture('minimal.yaml'), LOOPBACK)
  t.equal(loaded.path, fixture('minimal.yaml'))
  const c = loaded.config
  t.equal(c.listen.host, '127.0.0.1')
  t.equal(c.listen.port, 8790)
  t.equal(c.oidc?.issuer, 'http://127.0.0.1:5556')
  t.same(c.session.jwt_secret, ['0123456789abcdef0123456789abcdef0123456789abcdef'])
  const up = c.upstreams[0] as AnthropicUpstream
  t.same(up, { provider: 'anthropic', name: 'anthropic', base_url: 'http://127.0.0.1:9100', auth: { api_key: 'sk-fake' } })
  t.same(loaded.warnings, [])
  t.match(loaded.sha256, /^[0-9a-f]{64}$/)
})

t.test('defaults are filled in', async (t) => {
  const c: Readonly<Config> = parse(base(c => { c.listen = { public_url: 'https://gw.example.com/' } })).config
  // typed reads: these lines only compile if the inferred types are usable
  const port: number = c.listen.port
  const secrets: string[] = c.session.jwt_secret
  const allow: string[] = c.access_control.allow_cidrs
  t.equal(port, 8080)
  t.equal(c.listen.host, '0.0.0.0')
  t.equal(c.listen.public_url, 'https://gw.example.com', 'one trailing slash removed')
  t.same(c.listen.trusted_proxies, [])
  t.same(secrets, [SECRET])
  t.equal(c.session.ttl_hours, 1)
  t.equal(c.store.max_connections, 5)
  t.equal(c.store.connect_timeout_seconds, 5)
  t.same(allow, [])
  t.same(c.access_control.deny_cidrs, [])
  t.equal(c.limits.max_request_bytes, 33554432)
  t.equal(c.limits.max_request_header_bytes, undefined)
  t.equal(c.timeouts.upstream_ttfb_ms, 120000)
  t.same(c.rate_limits, { device_authorization: { max: 30, window_seconds: 600 }, device_verify: { max: 10, window_seconds: 600 } })
  t.equal(c.auto_include_builtin_models, true)
  t.same(c.models, [])
  t.same(c.telemetry, { forward_to: [] })
  t.same(c.enforcement, { fail_closed_on_error: false })
  t.equal(c.admin, undefined)
  t.equal(c.managed, undefined)
  t.same(c.oidc?.scopes, ['openid', 'profile', 'email', 'offline_access'])
  t.equal(c.oidc?.use_pkce, true)
  const up: UpstreamConfig = c.upstreams[0] as UpstreamConfig
  t.equal(up.name, 'anthropic', 'upstream name defaults to the provider')
  if (up.provider === 'anthropic') t.equal(up.base_url, 'https://api.anthropic.com')
})

t.test('partial sections keep their other defaults', async (t) => {
  const c = parse(base(c => {
    c.rate_limits = { device_verify: { max: 3 } }
    c.limits = { max_url_length: '4096' }
  })).config
  t.same(c.rate_limits.device_verify, { max: 3, window_seconds: 600 })
  t.same(c.rate_limits.device_authorization, { max: 30, window_seconds: 600 })
  t.equal(c.limits.max_request_bytes, 33554432)
  t.equal(c.limits.max_url_length, 4096)
})

t.test('the result is deep-frozen and hashed', async (t) => {
  const loaded = parse(base())
  const c = loaded.config
  t.ok(Object.isFrozen(loaded))
  t.ok(Object.isFrozen(c))
  t.ok(Object.isFrozen(c.listen))
  t.ok(Object.isFrozen(c.upstreams))
  t.ok(Object.isFrozen(c.upstreams[0]))
  t.ok(Object.isFrozen(c.session.jwt_secret))
  t.ok(Object.isFrozen(loaded.warnings))
  t.throws(() => { (c.listen as { port: number }).port = 1 }, TypeError)
  t.throws(() => { (c.session.jwt_secret as string[]).push('x') }, TypeError)
  const expected = createHash('sha256').update(JSON.stringify(c)).digest('hex')
  t.equal(loaded.sha256, expected, 'sha256 of JSON.stringify(config)')
  t.equal(parse(base()).sha256, expected, 'stable for the same input')
  t.not(parse(base(c => { c.listen.port = 8081 })).sha256, expected)
})

t.test('numbers are coerced from strings; booleans are not', async (t) => {
  const c = parse(base(c => { c.listen.port = '8080'; c.store.max_connections = ' 12 '; c.session.ttl_hours = '0.5' })).config
  t.equal(c.listen.port, 8080)
  t.equal(c.store.max_connections, 12)
  t.equal(c.session.ttl_hours, 0.5)
  t.same(refuse(t, BASE_YAML + 'auto_include_builtin_models: "true"\n'), [
    'gateway.yaml:16:30 auto_include_builtin_models: Expected true or false, but received: "true"',
  ])
  t.same(refuse(t, 'auto_include_builtin_models: yes\n' + BASE_YAML), [
    'gateway.yaml:1:30 auto_include_builtin_models: Expected true or false, but received: "yes"',
  ], 'YAML 1.2: yes is a string')
  const lines = refuse(t, editLine(3, '  port: eighty') + 'limits:\n  max_request_bytes: 1.5\n  max_url_length: "0"\n')
  t.same(lines, [
    'gateway.yaml:3:9 listen.port: Expected an integer, but received: "eighty"',
    'gateway.yaml:17:22 limits.max_request_bytes: Expected an integer, but received: 1.5',
    'gateway.yaml:18:19 limits.max_url_length: Expected an integer of at least 1, but received: 0',
  ])
})

t.test('jwt_secret: one string becomes a list; each must be 32+ characters', async (t) => {
  t.same(parse(base(c => { c.session.jwt_secret = [SECRET, SECRET + '2'] })).config.session.jwt_secret, [SECRET, SECRET + '2'])
  t.same(refuse(t, editLine(9, '  jwt_secret: too-short')), [
    'gateway.yaml:9:15 session.jwt_secret: Expected a string of at least 32 characters',
  ])
  t.same(refuse(t, editLine(9, `  jwt_secret: [${SECRET}, short]`)), [
    'gateway.yaml:9:58 session.jwt_secret.1: Expected a string of at least 32 characters',
  ])
  t.same(refuse(t, editLine(9, '  jwt_secret: []')), [
    'gateway.yaml:9:15 session.jwt_secret: must list at least one secret',
  ])
})

t.test('public_url is required unless the listener is loopback', async (t) => {
  for (const host of ['localhost', '127.0.0.1', '::1', '[::1]']) {
    t.equal(parse(base(c => { c.listen.host = host })).config.listen.public_url, undefined, `${host} needs none`)
  }
  for (const host of ['0.0.0.0', '127.0.0.2', 'gw.internal']) {
    const lines = refuse(t, base(c => { c.listen.host = host }))
    t.equal(lines.length, 1)
    t.match(lines[0], /^gateway\.yaml:2:3 listen\.public_url: required when listen\.host is not a loopback address/, host)
    t.notMatch(lines[0], /undefined/)
  }
  t.equal(parse(base(c => { c.listen.host = '0.0.0.0'; c.listen.public_url = 'https://gw.example.com' })).config.listen.host, '0.0.0.0')
  t.match(refuse(t, base(c => { c.listen.public_url = 'gw.example.com' })), [/listen\.public_url: must be an absolute URL/])
})

t.test('unknown keys anywhere fail with path and position', async (t) => {
  const text = editLine(3, '  port: 8080\n  bogus: 1') + '    region: us-east-1\ncolour: blue\n'
  t.same(refuse(t, text.replace('      api_key: sk-test', '      api_key: sk-test\n      apikey: sk-typo')), [
    'gateway.yaml:4:3 listen.bogus: unknown key',
    'gateway.yaml:17:7 upstreams.0.auth.apikey: unknown key; did you mean `upstreams.0.auth.api_key`?',
    'gateway.yaml:18:5 upstreams.0.region: unknown key',
    'gateway.yaml:19:1 colour: unknown key',
  ])
  t.same(refuse(t, BASE_YAML + 'rate_limits:\n  device_verify: { max: 1, windows: 60 }\n'), [
    'gateway.yaml:17:28 rate_limits.device_verify.windows: unknown key',
  ], 'inside a section that has defaults')
})

t.test('bad types name the path and line; secrets are never printed', async (t) => {
  const text = [
    'listen: { host: 127.0.0.1, port: [80] }',
    'oidc: { issuer: https://idp.example.com, client_id: weir, client_secret: 1234567 }',
    'session: { jwt_secret: hunter2-is-my-password }',
    'store: { postgres_url: "mysql://root:pw@db/weir", password: 31337 }',
    'upstreams: [{ provider: anthropic, auth: { api_key: 987654321 } }]',
    'timeouts: { upstream_ttfb_ms: -5 }',
    '',
  ].join('\n')
  const lines = refuse(t, text)
  t.same(lines, [
    'gateway.yaml:1:34 listen.port: Expected an integer, but received: a list',
    'gateway.yaml:2:74 oidc.client_secret: Expected a string, but received a value that is not shown (secret)',
    'gateway.yaml:3:24 session.jwt_secret: Expected a string of at least 32 characters',
    'gateway.yaml:4:24 store.postgres_url: must be postgres:// or postgresql://',
    'gateway.yaml:4:61 store.password: Expected a string, but received a value that is not shown (secret)',
    'gateway.yaml:5:53 upstreams.0.auth.api_key: Expected a string, but received a value that is not shown (secret)',
    'gateway.yaml:6:31 timeouts.upstream_ttfb_ms: Expected an integer of at least 1, but received: -5',
  ])
  for (const secret of ['1234567', 'hunter2', 'root:pw', '31337', '987654321']) {
    t.notOk(lines.some(l => l.includes(secret)), `${secret} not printed`)
  }
})

t.test('missing required keys point at the parent', async (t) => {
  t.same(refuse(t, 'listen:\n  host: 127.0.0.1\nsession:\n  ttl_hours: 2\n'), [
    'gateway.yaml:1:1 store: missing required key',
    'gateway.yaml:1:1 upstreams: missing required key',
    'gateway.yaml:4:3 session.jwt_secret: missing required key',
  ])
  t.same(refuse(t, BASE_YAML.replace('    auth:\n      api_key: sk-test\n', '')), ['gateway.yaml:13:5 upstreams.0.auth: missing required key'])
  // oidc may be left out only with cri.enabled, so its absence is a cross-section rule (reported once the rest is valid)
  const noOidc = BASE_YAML.replace(/^oidc:\n(?: {2}.*\n)+/m, '')
  t.notOk(noOidc.includes('oidc:'), 'fixture without oidc')
  t.same(refuse(t, noOidc), ['gateway.yaml:1:1 oidc: missing required key (only a gateway with cri.enabled: true may leave out sign-in)'])
})

t.test('several errors are reported at once, in file order', async (t) => {
  const text = BASE_YAML
    .replace('port: 8080', 'port: x')
    .replace(`jwt_secret: ${SECRET}`, 'jwt_secret: short')
    .replace('postgres://weir@db', 'mysql://weir@db') + '  - provider: openai\n'
  t.same(refuse(t, text), [
    'gateway.yaml:3:9 listen.port: Expected an integer, but received: "x"',
    'gateway.yaml:9:15 session.jwt_secret: Expected a string of at least 32 characters',
    'gateway.yaml:11:17 store.postgres_url: must be postgres:// or postgresql://',
    'gateway.yaml:16:15 upstreams.1.provider: must be one of anthropic, bedrock, mantle, anthropicAws, anthropicGoogleCloud, vertex, foundry, mock, but received: "openai"',
  ])
  t.same(refuse(t, BASE_YAML + '  - { provider: anthropic, auth: { api_key: k } }\n'), [
    "gateway.yaml:16:5 upstreams.1.name: duplicate upstream name 'anthropic': give each upstream a distinct name",
  ], 'duplicate names, both defaulted from the provider (no name key: points at the entry)')
  t.same(refuse(t, BASE_YAML.replace('  - provider: anthropic', '  - name: a\n    provider: anthropic') + '  - { name: a, provider: mock }\n'), [
    "gateway.yaml:17:13 upstreams.1.name: duplicate upstream name 'a': give each upstream a distinct name",
  ])
})

t.test('a top-level dev block gets its own message', async (t) => {
  const lines = refuse(t, BASE_YAML + 'dev:\n  postgres: true\n')
  t.equal(lines.length, 1)
  t.match(lines[0], /^gateway\.yaml:16:1 dev: Weir's gateway\.yaml has no dev block: run `weir dev`.*set store\.postgres_url$/)
})

t.test('$schema is accepted and ignored', async (t) => {
  t.equal(parse('$schema: https://example.com/gateway.schema.json\n' + base()).config.listen.port, 8080)
})

t.test('YAML problems: syntax, duplicate keys, tags, not a mapping', async (t) => {
  t.same(refuse(t, BASE_YAML + 'listen:\n  port: 1\n'), [
    'gateway.yaml:16:1 listen: duplicate key (each key may appear once in a mapping)',
  ])
  t.match(refuse(t, 'listen: [1, 2\nsession: {}\n'), [/^gateway\.yaml:\d+:\d+ .*YAML /])
  t.match(refuse(t, BASE_YAML + 'models: !custom x\n'), [/^gateway\.yaml:16:9 models: YAML Unresolved tag: !custom/])
  t.same(refuse(t, BASE_YAML + '---\nlisten: {}\n'), ['gateway.yaml:16:1 gateway.yaml must hold a single YAML document (found a second one)'])
  for (const text of ['', '# nothing\n', '- a\n- b\n', 'just a string\n']) {
    t.same(refuse(t, text), ['gateway.yaml:1:1 gateway.yaml must be a mapping of settings (listen, oidc, session, store, upstreams, …)'])
  }
  t.same(refuse(t, BASE_YAML + '    base_url: !weird https://x.example\n'), [
    'gateway.yaml:16:15 upstreams.0.base_url: YAML Unresolved tag: !weird',
  ], 'a YAML problem inside a list item is located by key path')
  const bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n'
  t.match(refuse(t, bomb), [/^gateway\.yaml:1:1 YAML could not be resolved: .*alias/i], 'alias expansion is bounded')
  t.same(refuse(t, 'x-anchors: &a [1]\n' + BASE_YAML + 'x-more: [*a, *a]\n'), [
    'gateway.yaml:1:1 x-anchors: unknown key',
    'gateway.yaml:17:1 x-more: unknown key',
  ], 'anchors and aliases resolve; unknown keys still fail')
})

t.test('loadConfig reads a file; an unreadable one is a BootError', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, base(c => { c.listen.port = '${PORT}' })) // eslint-disable-line no-template-curly-in-string
  t.equal(loadConfig(file, { PORT: '9090' }).config.listen.port, 9090, 'env passed through')
  const lines = errorsOf(t, () => loadConfig(join(dir, 'missing.yaml'), {}))
  t.same(lines, [`${join(dir, 'missing.yaml')}: cannot read the config file (ENOENT)`])
  writeFileSync(file, 'listen: {port: x}\n')
  t.match(errorsOf(t, () => loadConfig(file, {}))[0], `${file}:1:`, 'messages carry the path as given')
  t.ok(readFileSync(file, 'utf8').length > 0)
})

t.test('mock upstream (Weir extension) and its defaults', async (t) => {
  const c = parse(base(c => { c.upstreams = [{ provider: 'mock' }, { provider: 'mock', name: 'slow', delay_ms: '25', events: 3 }] })).config
  const [a, b] = c.upstreams as MockUpstream[]
  t.same(a, { provider: 'mock', name: 'mock', delay_ms: 0, events: 12 })
  t.same(b, { provider: 'mock', name: 'slow', delay_ms: 25, events: 3 })
  t.same(refuse(t, BASE_YAML.replace(/upstreams:[^]*$/, 'upstreams:\n  - { provider: mock, delay_ms: -1, events: 1.5, auth: {} }\n')), [
    'gateway.yaml:13:33 upstreams.0.delay_ms: Expected a number of at least 0, but received: -1',
    'gateway.yaml:13:45 upstreams.0.events: Expected an integer, but received: 1.5',
    'gateway.yaml:13:50 upstreams.0.auth: unknown key',
  ])
})

t.test('warnings', async (t) => {
  t.same(parse(base()).warnings, [])
  const text = BASE_YAML.replace('host: 127.0.0.1', 'host: 0.0.0.0\n  public_url: http://gw.example.com') +
    '    base_url: https://llm-proxy.example.com\n    forward_user_identity: true\n'
  t.same(parse(text).warnings, [
    'gateway.yaml:3:15 listen.public_url: public_url is http:// on a non-loopback host; Claude Code accepts http:// only for loopback, so use https://',
    "gateway.yaml:18:28 upstreams.0.forward_user_identity: upstream 'anthropic' sends each developer's email and subject to its base_url",
  ])
  t.same(refuse(t, text.replace('llm-proxy.example.com', 'api.anthropic.com')), [
    'gateway.yaml:18:28 upstreams.0.forward_user_identity: is for a proxy you run at base_url; it is refused for Anthropic hosts so user emails never reach Anthropic',
  ])
  const proxied = parse(base(), { HTTPS_PROXY: 'http://proxy:3128' }).warnings
  t.match(proxied, [/oidc\.issuer: a proxy is set in the environment but IdP requests go direct/])
  t.same(parse(base(), { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.example.com' }).warnings, [], 'NO_PROXY covers the issuer')
})
