/**
 * Managed settings against the vendored SchemaStore schema: realistic documents pass, mistakes
 * are reported at their key path, and Weir's own rules (unknown top-level keys, mcpServers,
 * __proto__) apply on top.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { SETTINGS_SCHEMA_FILE, checkSettings, knownSettingKeys } from '../../lib/policy/settings-schema.js'

const issues = (doc: Record<string, unknown>): string[] => checkSettings(doc).map(i => `${i.path.join('.')}: ${i.message}`)

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

t.test('unknown top-level keys and mcpServers are refused, each once', async (t) => {
  const got = issues({ availbleModels: ['opus'], mcpServers: { x: { command: 'y' } }, model: 'opus' })
  t.equal(got.length, 2)
  t.match(got[0], /^availbleModels: is not a Claude Code setting Weir knows: check the spelling/)
  t.match(got[1], /^mcpServers: MCP servers cannot be delivered through gateway managed settings; .*managedMcpServers/)
})

t.test('nested mistakes are reported at their path', async (t) => {
  t.same(issues({ cleanupPeriodDays: 0 }), ['cleanupPeriodDays: must be at least 1 (got 0)'])
  t.same(issues({ availableModels: 'opus' }), ['availableModels: must be a list (got string "opus")'])
  t.same(issues({ permissions: { deny: ['Frobnicate'] } }), ['permissions.deny.0: "Frobnicate" is not a valid value (expected: Tool permission rule)'])
  t.same(issues({ permissions: { deny: ['WebFetch', 'WebFetch'] } }), ['permissions.deny.1: repeats "WebFetch"; entries must be unique'])
  t.match(issues({ permissions: { colour: 'red' } })[0], /^permissions\.colour: is not a known key here \(known keys: allow, deny, ask/)
  t.same(issues({ hooks: { PreToolUse: [{ hooks: [{ type: 'command' }] }] } }), ['hooks.PreToolUse.0.hooks.0.command: is required'])
  t.same(issues({ hooks: { OnLunch: [] } }).length, 1)
  t.same(issues({ env: { lower: 'x' } }), ['env.lower: is not an allowed key: "lower" does not match the pattern ^[A-Z_][A-Z0-9_]*$'])
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
