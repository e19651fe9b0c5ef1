/**
 * Managed settings against the vendored SchemaStore schema: realistic documents pass, mistakes
 * are reported at their key path, and Weir's own rules (unknown top-level keys, mcpServers,
 * __proto__) apply on top.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { SETTINGS_SCHEMA_FILE, checkSettings, knownSettingKeys, vendoredSettingKeys } from '../../lib/policy/settings-schema.js'
import { REFERENCE_SETTING_KEYS } from '../../lib/policy/reference-settings.js'

const issues = (doc: Record<string, unknown>): string[] => checkSettings(doc).problems.map(i => `${i.path.join('.')}: ${i.message}`)
const warnings = (doc: Record<string, unknown>): string[] => checkSettings(doc).warnings.map(i => `${i.path.join('.')}: ${i.message}`)

t.test('the vendored schema is the file the NOTE describes', async (t) => {
  const text = readFileSync(SETTINGS_SCHEMA_FILE, 'utf8')
  const note = readFileSync(SETTINGS_SCHEMA_FILE.replace(/claude-code-settings\.json$/, 'NOTE.md'), 'utf8')
  t.match(note, createHash('sha256').update(text).digest('hex'), 'NOTE.md records the hash of the vendored file')
  t.match(readFileSync(SETTINGS_SCHEMA_FILE.replace(/claude-code-settings\.json$/, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/)
  const keys = knownSettingKeys()
  for (const k of ['availableModels', 'permissions', 'env', 'hooks', 'modelOverrides', 'skillOverrides', 'enforceAvailableModels', 'sandbox', 'managedMcpServers']) {
    t.ok(keys.has(k), `knows ${k}`)
  }
  t.notOk(keys.has('mcpServers'))
})

t.test('realistic managed settings pass', async (t) => {
  t.same(issues({}), [])
  t.same(issues({
    availableModels: ['claude-opus-4-8', 'sonnet', 'haiku'],
    enforceAvailableModels: true,
    model: 'opus',
    permissions: {
      allow: ['Bash(npm run *)', 'Read', 'mcp__github__search_repositories'],
      deny: ['WebFetch', 'Read(./.env)', 'Bash(curl:*)'],
      ask: ['Bash(git push)'],
      defaultMode: 'default',
      disableBypassPermissionsMode: 'disable',
    },
    env: { DISABLE_UPDATES: '1', CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY: '1', MY_TEAM_VAR: 'x' },
    hooks: {
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'audit.sh', timeout: 5 }] }],
      Stop: [{ hooks: [{ type: 'http', url: 'https://hooks.example.com/stop', headers: { Authorization: 'Bearer $T' } }] }],
    },
    disabledMcpjsonServers: ['filesystem'],
    deniedMcpServers: [{ serverName: 'evil' }, { serverUrl: 'https://*.bad.example/*' }],
    blockedMarketplaces: [{ source: 'github', repo: 'x/y' }],
    modelOverrides: { 'claude-opus-4-6': 'arn:aws:bedrock:us-east-2:1:application-inference-profile/p' },
    skillOverrides: { deploy: 'off' },
    sandbox: { enabled: true, network: { allowedDomains: ['example.com'] } },
    companyAnnouncements: ['Welcome'],
    theme: 'custom:corp',
    cleanupPeriodDays: 30,
    statusLine: { type: 'command', command: '~/.claude/statusline.sh' },
    managedMcpServers: [{ name: 'docs', url: 'https://mcp.example.com' }],
  }), [])
})

t.test('mcpServers is refused; an unknown top-level key is warned about once and delivered', async (t) => {
  const doc = { availbleModels: ['opus'], mcpServers: { x: { command: 'y' } }, model: 'opus' }
  const got = issues(doc)
  t.equal(got.length, 1)
  t.match(got[0], /^mcpServers: MCP servers cannot be delivered through gateway managed settings; .*managedMcpServers/)
  const warned = warnings(doc)
  t.equal(warned.length, 1)
  t.match(warned[0], /^availbleModels: is not a Claude Code setting Weir knows, so it is delivered unchecked: check the spelling/)
  t.same(warnings({ availbleModels: 1 }), warnings({ availbleModels: ['x'] }), 'an unknown key is not type-checked')
})

t.test('nested mistakes are reported at their path', async (t) => {
  t.same(issues({ cleanupPeriodDays: 0 }), ['cleanupPeriodDays: must be at least 1 (got 0)'])
  t.same(issues({ availableModels: 'opus' }), ['availableModels: must be a list (got string "opus")'])
  t.same(issues({ permissions: { deny: ['Frobnicate'] } }), ['permissions.deny.0: "Frobnicate" is not a valid value (expected: Tool permission rule)'])
  t.same(issues({ permissions: { deny: ['WebFetch', 'WebFetch'] } }), ['permissions.deny.1: repeats "WebFetch"; entries must be unique'])
  t.match(issues({ permissions: { colour: 'red' } })[0], /^permissions\.colour: is not a known key here \(known keys: allow, deny, ask/)
  t.same(issues({ hooks: { PreToolUse: [{ hooks: [{ type: 'command' }] }] } }), ['hooks.PreToolUse.0.hooks.0.command: is required'])
  t.same(issues({ hooks: { OnLunch: [] } }).length, 1)
  t.same(issues({ env: { lower: 1 } }), ['env.lower: must be a string (got integer 1)'], 'an odd env name still needs a string value')
  t.same(issues({ env: { N: 1 } }), ['env.N: must be a string (got integer 1)'])
  t.same(issues({ statusLine: { type: 'command' } }), ['statusLine.command: is required'])
  t.same(issues({ feedbackSurveyRate: 2 }), ['feedbackSurveyRate: must be at most 1 (got 2)'])
  t.same(issues({ fallbackModel: ['a', 'b', 'c', 'd'] }), ['fallbackModel: must list at most 3 entries (got 4)'])
})

t.test('__proto__ keys are refused anywhere', async (t) => {
  const doc = JSON.parse('{"env":{"__proto__":{"A":"1"}},"companyAnnouncements":[{"__proto__":1}]}') as Record<string, unknown>
  const got = issues(doc).filter(l => l.endsWith('is not allowed as a key in managed settings'))
  t.same(got, ['env.__proto__: is not allowed as a key in managed settings', 'companyAnnouncements.0.__proto__: is not allowed as a key in managed settings'])
})

t.test('reference 2.1.332 keys: accepted, the six new ones type-checked', async (t) => {
  const keys = knownSettingKeys()
  const vendored = vendoredSettingKeys()
  t.equal(REFERENCE_SETTING_KEYS.filter(k => vendored.has(k)).length, 0, 'the reference-only list holds no key the vendored schema has')
  t.equal(new Set(REFERENCE_SETTING_KEYS).size, REFERENCE_SETTING_KEYS.length, 'no duplicates')
  t.ok(keys.size >= 202, `knows at least the 202 keys 2.1.332 accepts (${keys.size})`)
  const six = {
    additionalDirectoryConfigRoots: { '/work/a': '/work/a-config' },
    desktopMcpServersListScope: 'code',
    disableDirectMcpSkills: true,
    downloadsMirrorUrl: 'https://downloads.mirror.example',
    modelCatalogPublicKey: '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----',
    modelCatalogUrl: 'https://catalog.example/catalog.json',
  }
  for (const k of Object.keys(six)) t.ok(keys.has(k), `knows ${k}`)
  t.same(checkSettings(six), { problems: [], warnings: [] })
  t.same(checkSettings({ bashEditDiffEnabled: false, promptCacheTtl: '1h', quietHours: { start: '22:00' } }), { problems: [], warnings: [] },
    'keys whose shape Weir does not know pass unchecked and unwarned')
  t.same(issues({ disableDirectMcpSkills: 'yes', downloadsMirrorUrl: 3, additionalDirectoryConfigRoots: { '/a': 1 } }), [
    'disableDirectMcpSkills: must be a boolean (got string "yes")',
    'downloadsMirrorUrl: must be a string (got integer 3)',
    'additionalDirectoryConfigRoots./a: must be a string (got integer 1)',
  ])
})

t.test('odd env names are warned about, not refused', async (t) => {
  const doc = { env: { http_proxy: 'http://proxy:3128', no_proxy: 'localhost', HTTPS_PROXY: 'http://proxy:3128', 'my-var': 'x' } }
  t.same(issues(doc), [])
  t.same(warnings(doc).map(w => w.split(':')[0]), ['env.http_proxy', 'env.no_proxy', 'env.my-var'])
  t.match(warnings(doc)[0], /is not an upper-case environment variable name/)
})
