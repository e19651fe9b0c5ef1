/**
 * Policy selection and compilation from a whole gateway.yaml: matching on groups (names and
 * Entra GUIDs), email domain and emails; first match wins; the catch-all as base layer; layered
 * mode; the legacy managed.settings file; telemetry env injection; boot errors and warnings as
 * `weir validate` and `weir serve` print them; audit fields; Desktop bootstrap documents.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { BootError } from '../../lib/errors.js'
import { type LoadedConfig, parseConfig } from '../../lib/config/load.js'
import { bootstrapBody, resourceAttributes } from '../../lib/policy/bootstrap.js'
import { telemetryEnv } from '../../lib/policy/compile.js'
import { Policies, checkPolicies, isDesktopSession, settingsChecksum } from '../../lib/policy/index.js'
import { dotted } from '../../lib/config/locate.js'

/** `checkPolicies` problems as the `path: message` lines boot prints. */
const validatePolicies = (c: Parameters<typeof checkPolicies>[0]): string[] => checkPolicies(c).problems.map((p) => `${dotted(p.path)}: ${p.message}`)
import type { Principal } from '../../lib/session/token.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const base = (): Obj => ({
  listen: { host: '127.0.0.1' },
  oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
  session: { jwt_secret: 'a-secret-of-more-than-32-characters-long', ttl_hours: 2 },
  store: { postgres_url: 'postgres://weir@db.example.com/weir' },
  upstreams: [{ provider: 'mock' }],
})

const load = (c: Obj): LoadedConfig => parseConfig(stringify(c), 'gateway.yaml', { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' })
const compile = (managed: Obj, more?: (c: Obj) => void): Policies => {
  const c = base()
  c.managed = managed
  more?.(c)
  return Policies.fromConfig(load(c).config)
}
function bootLines (c: Obj): string[] {
  try { load(c) } catch (err) { if (err instanceof BootError) return [...err.lines]; throw err }
  return []
}

const P = (groups: string[], email?: string, sub = 'u-1'): Principal => ({ sub, email, name: undefined, groups, iat: 0, exp: 0 })
const GUID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301'

t.test('first match wins: groups (any of), Entra GUIDs, email domain, emails, combined conditions', async (t) => {
  const pol = compile({
    policies: [
      { match: { emails: ['Boss@Example.com'] }, cli: { model: 'boss' } },
      { match: { groups: ['eng', GUID.toUpperCase()] }, cli: { model: 'eng' } },
      { match: { email_domain: '@Corp.Example' }, cli: { model: 'corp' } },
      { match: { groups: ['ops'], email_domain: 'ops.example' }, cli: { model: 'ops-both' } },
      { match: { groups: ['contractors'] }, cli: { model: 'contractors' } },
    ],
  })
  const model = (p: Principal): unknown => pol.match(p)?.settings.model ?? null
  t.equal(model(P(['eng'], 'boss@example.com')), 'boss', 'emails: exact address, case-insensitive, earlier policy wins')
  t.equal(model(P(['x', 'eng'])), 'eng', 'any listed group')
  t.equal(model(P([GUID])), 'eng', 'Entra group ids compare without case')
  t.equal(model(P(['ENG'])), null, 'group names are case-sensitive')
  t.equal(model(P([], 'dev@CORP.example')), 'corp', 'domain normalised; email lower-cased')
  t.equal(model(P([], 'dev@sub.corp.example')), null, 'a subdomain is another domain')
  t.equal(model(P(['ops'], 'a@ops.example')), 'ops-both', 'every condition must hold')
  t.equal(model(P(['ops'], 'a@else.example')), null)
  t.equal(model(P(['contractors', 'eng'])), 'eng', 'the first matching policy wins, not the most specific')
  t.equal(model(P([], undefined)), null, 'no email, no groups')
  t.equal(pol.match(P(['eng']))?.index, 1)
})

t.test('the catch-all is the base layer and matches everyone else; an empty policy serves {}', async (t) => {
  const pol = compile({
    policies: [
      { match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'], permissions: { deny: ['WebFetch'] }, env: { TEAM: 'c' } } },
      { match: { groups: ['empty'] }, cli: {} },
      { match: {}, cli: { availableModels: ['opus'], permissions: { deny: ['Read(./.env)'] }, env: { DISABLE_UPDATES: '1', TEAM: 'base' } } },
    ],
  })
  t.same(pol.match(P(['contractors']))?.settings, { availableModels: ['haiku'], permissions: { deny: ['Read(./.env)', 'WebFetch'] }, env: { DISABLE_UPDATES: '1', TEAM: 'c' } })
  t.same(pol.match(P(['empty']))?.settings, pol.match(P(['anyone']))?.settings, 'an empty policy inherits the base')
  t.equal(pol.match(P(['anyone']))?.index, 2)
  const noBase = compile({ policies: [{ match: { groups: ['empty'] }, cli: {} }] })
  const m = noBase.match(P(['empty']))
  t.same(m?.settings, {})
  t.equal(m?.body, `{"uuid":"${settingsChecksum({})}","checksum":"${settingsChecksum({})}","settings":{}}`)
  t.equal(noBase.match(P(['other'])), null, 'no catch-all: others match nothing')
})

t.test('settings come from code, else cli, else the legacy settings key; code vs cli sessions', async (t) => {
  const pol = compile({
    policies: [
      { match: { groups: ['a'] }, settings: { model: 'legacy' } },
      { match: { groups: ['b'] }, cli: { model: 'cli' }, settings: { model: 'ignored' }, serve_to_desktop: true },
      { match: { groups: ['c'] } },
    ],
  })
  t.equal(pol.match(P(['a']))?.settings.model, 'legacy')
  const b = pol.match(P(['b']))
  t.equal(b?.settings.model, 'cli')
  t.equal(b?.servesDesktopSessions, true, 'serve_to_desktop: true serves cli settings to Desktop sessions')
  t.equal(pol.match(P(['a']))?.servesDesktopSessions, false)
  t.same(pol.match(P(['c']))?.settings, {}, 'a policy without a block serves {}')
  const code = compile({ policies: [{ match: {}, code: { model: 'x' }, desktop: {} }] }).match(P([]))
  t.equal(code?.underCode, true)
  t.equal(code?.servesDesktopSessions, true)
  t.equal(compile({ policies: [{ match: {}, code: {} }] }).match(P([]))?.servesDesktopSessions, false, 'nothing to serve')
})

t.test('policy_mode: layered combines every matching policy, the earlier on top', async (t) => {
  const pol = compile({
    policy_mode: 'layered',
    policies: [
      { match: { groups: ['a'] }, cli: { model: 'a', permissions: { deny: ['WebFetch'] }, env: { A: '1' } } },
      { match: { groups: ['b'] }, cli: { model: 'b', availableModels: ['sonnet'], permissions: { deny: ['Bash'] }, env: { B: '1' } } },
      { match: {}, cli: { permissions: { deny: ['Read(./.env)'] }, env: { BASE: '1' } } },
    ],
  })
  const both = pol.match(P(['a', 'b']))
  t.same(both?.settings, { permissions: { deny: ['Read(./.env)', 'Bash', 'WebFetch'] }, env: { BASE: '1', B: '1', A: '1' }, model: 'a', availableModels: ['sonnet'] })
  t.same(both?.indexes, [0, 1, 2])
  t.equal(both?.index, 0)
  t.equal(pol.match(P(['b', 'a'])), both, 'the combination is cached')
  const one = pol.match(P(['b']))
  t.equal(one?.indexes, undefined, 'a single specific match is the plain policy')
  t.same(one?.settings.permissions, { deny: ['Read(./.env)', 'Bash'] })
  const bad = base()
  bad.managed = { policy_mode: 'layered', policies: [{ match: { groups: ['a'] }, cli: { disableAllHooks: true, policyHelper: { path: '/bin/x' } } }] }
  t.match(bootLines(bad), [
    /managed\.policies\.0\.cli\.disableAllHooks: limits every hook a user gets, so with policy_mode: layered it may only be set in the match: \{\} policy$/,
    /managed\.policies\.0\.cli\.policyHelper: cannot be used with policy_mode: layered/,
  ])
  const config = load(base()).config
  t.same(validatePolicies({ ...config, managed: { policy_mode: 'layered', policies: [{ match: { groups: ['a'] }, cli: { policyHelper: { path: '/bin/x' } } }] } }),
    ["managed.policies.0.cli.policyHelper: cannot be used with policy_mode: layered: a policy helper's output replaces or extends the served settings, so it could drop another matching policy's rules"],
    'validatePolicies gives path: message lines')
})

t.test('telemetry variables are pushed when forward_to and public_url are both set; the policy env wins', async (t) => {
  const withTelemetry = (c: Obj): void => {
    c.listen.public_url = 'https://gw.example.com'
    c.telemetry = { forward_to: [{ url: 'https://otel.example.com', logs: true }], resource_attributes: { 'team.name': 'core' } }
  }
  const c = base()
  withTelemetry(c)
  const env = telemetryEnv(load(c).config)
  t.same(env, {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example.com',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_RESOURCE_ATTRIBUTES: 'team.name=core',
  })
  const pol = compile({ policies: [{ match: {}, cli: { env: { OTEL_LOGS_EXPORTER: 'none', MINE: '1' } } }] }, withTelemetry)
  t.same(pol.match(P([]))?.settings.env, { ...env, OTEL_LOGS_EXPORTER: 'none', MINE: '1' })
  const only = Policies.fromConfig(load(c).config)
  t.equal(only.configured, true, 'telemetry alone makes a catch-all policy')
  t.same(only.match(P(['x']))?.settings, { env })
  const noUrl = base()
  noUrl.telemetry = { forward_to: [{ url: 'https://otel.example.com' }] }
  t.equal(telemetryEnv(load(noUrl).config), null, 'without public_url nothing is pushed')
  t.equal(Policies.fromConfig(load(noUrl).config).configured, false)
})

t.test('managed.settings: a JSON file as the single catch-all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-policy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'managed-settings.json')
  writeFileSync(file, JSON.stringify({ env: { A: '1' }, availableModels: ['opus'] }))
  const pol = compile({ settings: file })
  t.same(pol.match(P(['anyone']))?.settings, { env: { A: '1' }, availableModels: ['opus'] })
  t.same(compile({ settings: join(dir, 'missing.json') }).match(P([]))?.settings, {}, 'a missing file is an empty policy')
  const bad = (content: string): string[] => {
    writeFileSync(file, content)
    const c = base()
    c.managed = { settings: file }
    return bootLines(c)
  }
  t.match(bad('{not json'), [/^gateway\.yaml:\d+:\d+ managed\.settings: .*managed-settings\.json is not valid JSON/])
  t.match(bad('[1]'), [/managed\.settings: .* must hold a JSON object of Claude Code settings$/])
  t.match(bad('{"mcpServers":{}}'), [/managed\.settings: in .*managed-settings\.json: mcpServers: MCP servers cannot be delivered/])
  t.match(bad('{"cleanupPeriodDays":0}'), [/managed\.settings: in .*: cleanupPeriodDays: must be at least 1 \(got 0\)$/])
  const unreadable = base()
  unreadable.managed = { settings: dir }
  t.match(bootLines(unreadable), [/managed\.settings: cannot read .* \(EISDIR\)/])
  t.equal(compile({ policies: [] }).match(P([])), null, 'an empty policy list matches nobody')
})

t.test('boot: problems name the policy and the key, with line and column, and fail the load', async (t) => {
  const c = base()
  c.managed = {
    policies: [
      { match: { groups: ['a'] }, cli: { availbleModels: ['opus'], mcpServers: { x: { command: 'y' } }, permissions: { deny: ['Nope'] } } },
      { match: {}, cli: { hooks: { Stop: [{ hooks: [{ type: 'command' }] }] } }, desktop: { inferenceModels: [], mcpServers: {}, disabledBuiltinTools: [''] } },
    ],
  }
  const lines = bootLines(c)
  // an unknown key is only a warning since the reference 2.1.332 parity work (see the next tests)
  t.match(lines, [
    /^gateway\.yaml:\d+:\d+ managed\.policies\.0\.cli\.mcpServers: MCP servers cannot be delivered/,
    /^gateway\.yaml:\d+:\d+ managed\.policies\.0\.cli\.permissions\.deny\.0: "Nope" is not a valid value/,
    /^gateway\.yaml:\d+:\d+ managed\.policies\.1\.cli\.hooks\.Stop\.0\.hooks\.0\.command: is required$/,
    /^gateway\.yaml:\d+:\d+ managed\.policies\.1\.desktop\.inferenceModels: is computed by the gateway/,
    /^gateway\.yaml:\d+:\d+ managed\.policies\.1\.desktop\.mcpServers: is not a Claude Desktop setting; use managedMcpServers$/,
    /^gateway\.yaml:\d+:\d+ managed\.policies\.1\.desktop\.disabledBuiltinTools: must be a list of non-empty strings$/,
  ])
  t.equal(lines.length, 6)
  t.same(validatePolicies(Object.freeze({ ...load(base()).config })), [], 'a config without managed has nothing to report')
  t.throws(() => Policies.fromConfig({ ...load(base()).config, managed: c.managed }), BootError, 'workers refuse invalid policies too')
})

t.test('boot warnings: empty or alias-only availableModels, ignored keys, Desktop not opted in', async (t) => {
  const c = base()
  c.managed = {
    policies: [
      { match: { groups: ['a'] }, cli: { availableModels: [] } },
      { match: { groups: ['b'] }, cli: { availableModels: ['best', 'opus', 'default'] }, settings: {} },
    ],
  }
  t.same(checkPolicies(load(base()).config), { problems: [], warnings: [] })
  t.match(load(c).warnings, [
    /managed\.policies\.0\.cli\.availableModels: is an empty list, so every model request/,
    /managed\.policies\.1\.settings: is ignored because this policy also has cli/,
    /managed\.policies\.1\.cli\.availableModels: 'best', 'default' are aliases Claude Code resolves itself/,
    /managed\.policies: no policy has a desktop: block/,
  ])
  const code = base()
  code.managed = { policies: [{ match: {}, code: { availableModels: ['opusplan'] }, serve_to_desktop: false, desktop: {} }] }
  t.match(load(code).warnings, [
    /managed\.policies\.0\.code\.availableModels: 'opusplan' is an alias Claude Code resolves itself/,
    /managed\.policies\.0\.serve_to_desktop: has no effect on a policy whose settings are under code/,
  ])
})

t.test('auditFields: checksum and hint headers, sanitised; null when absent', async (t) => {
  const pol = compile({ policies: [] })
  t.equal(pol.auditFields({ 'content-type': 'application/json' }), null)
  t.same(pol.auditFields({
    'x-claude-code-managed-settings-checksum': 'sha256:abc',
    'x-claude-code-request-class': 'main\nloop',
    'x-claude-1p-request-class': 'x',
    'x-claude-code-agent-type': 'subagent',
    'x-claude-code-auxiliary-type': 'compact',
    'x-claude-code-prompt-id': 'p'.repeat(200),
    'x-claude-code-session-id': 'not a hint',
  }), {
    settings_checksum: 'sha256:abc',
    hint_request_class: 'mainloop',
    hint_1p_request_class: 'x',
    hint_agent_type: 'subagent',
    hint_auxiliary_type: 'compact',
    hint_prompt_id: 'p'.repeat(128) + '...',
  })
})

t.test('Claude Desktop sessions are recognised by the entry point in the User-Agent', async (t) => {
  t.ok(isDesktopSession('claude-cli/2.1.328 (external, claude-desktop)'))
  t.ok(isDesktopSession('claude-code/2.1.328 (external, claude-desktop-3p, x)'))
  t.ok(isDesktopSession('claude-cli/2.1.328 (external, local-agent)'))
  t.notOk(isDesktopSession('claude-cli/2.1.328 (external, cli)'))
  t.notOk(isDesktopSession('Claude/1.0 (claude-desktop)'))
  t.notOk(isDesktopSession(undefined))
})

t.test('bootstrap document: models, restrictions from settings, overlay, telemetry, expiry', async (t) => {
  const c = base()
  c.listen.public_url = 'https://gw.example.com'
  c.telemetry = { forward_to: [{ url: 'https://otel.example.com' }] }
  c.managed = {
    policies: [
      { match: { groups: ['eng'] }, code: { availableModels: ['sonnet'], permissions: { deny: ['WebFetch', 'Read(./.env)', 'mcp__x'] }, env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } }, desktop: { disabledBuiltinTools: ['Bash'], theme: 'dark' } },
      { match: {}, code: { sandbox: { network: { allowedDomains: ['example.com'] } } }, desktop: {} },
    ],
  }
  const config = load(c).config
  const pol = Policies.fromConfig(config)
  const p = P(['eng'], 'dev@example.com', 'u-dev')
  const m = pol.match(p)
  if (m === null) { t.fail('no policy'); return }
  const models = [
    { type: 'model' as const, id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6' },
    { type: 'model' as const, id: 'claude-opus-4-8', display_name: 'claude-opus-4-8' },
    { type: 'model' as const, id: 'claude-sonnet-5', display_name: 'claude-sonnet-5' },
  ]
  const body = bootstrapBody(config, m, p, 'https://gw.example.com', models, 1_000_000)
  t.same(Object.keys(body), ['inferenceProvider', 'inferenceGatewayBaseUrl', 'inferenceCredentialKind', 'inferenceGatewayManagedClaudeCode', 'otlpEndpoint', 'otlpProtocol', 'otlpResourceAttributes', 'inferenceModels', 'disabledBuiltinTools', 'coworkEgressAllowedHosts', 'theme', 'expiresAt'])
  t.same(body, {
    inferenceProvider: 'gateway',
    inferenceGatewayBaseUrl: 'https://gw.example.com',
    inferenceCredentialKind: 'interactive',
    inferenceGatewayManagedClaudeCode: true,
    otlpEndpoint: 'https://gw.example.com',
    otlpProtocol: 'http/json',
    otlpResourceAttributes: { 'enduser.id': 'dev@example.com', 'user.email': 'dev@example.com', 'user.groups': 'eng', 'enduser.sub': 'u-dev' },
    inferenceModels: [{ name: 'claude-sonnet-4-6', labelOverride: 'Claude Sonnet 4.6' }, { name: 'claude-sonnet-5' }],
    disabledBuiltinTools: ['WebFetch', 'Bash'],
    coworkEgressAllowedHosts: ['example.com'],
    theme: 'dark',
    expiresAt: 1000 + 2 * 3600,
  })
  const other = pol.match(P(['x']))
  if (other === null) { t.fail('no catch-all'); return }
  const plain = bootstrapBody(config, other, P(['x'], undefined, 'u-x'), 'https://gw.example.com', [], 0)
  t.notOk('inferenceModels' in plain, 'no models, no list')
  t.notOk('disabledBuiltinTools' in plain)
  t.same(plain.otlpResourceAttributes, { 'enduser.id': 'u-x', 'user.groups': 'x', 'enduser.sub': 'u-x' })
  t.same(resourceAttributes(P(['a,b', 'c'], undefined, 'has space'), { team: 't' }), { team: 't', 'enduser.id': 'has space' }, 'unsafe groups and subjects are left out')
})
