/**
 * Base-layer merge rules (config.md §10.2): allow-lists replace, deny-lists and hooks union,
 * record keys shallow-merge, permissions merge; and the Desktop overlay rules.
 */
import t from 'tap'
import { mergeDesktop, mergeSettings, unionLists } from '../../lib/policy/merge.js'

const BASE = {
  availableModels: ['claude-opus-4-8', 'sonnet', 'claude-haiku-4-5'],
  permissions: { deny: ['Read(./.env)'], ask: ['Bash(git push)'], allow: ['Read'], defaultMode: 'default' },
  env: { DISABLE_UPDATES: '1', TEAM: 'base' },
  hooks: { PreToolUse: [{ matcher: 'Edit', hooks: [{ type: 'command', command: 'echo b' }] }], Stop: [{ hooks: [{ type: 'command', command: 'echo s' }] }] },
  disabledMcpjsonServers: ['b', 'c'],
  companyAnnouncements: ['hi'],
  sandbox: { network: { allowedDomains: ['example.com'] } },
}

t.test('a policy layered onto the base: the result the reference gateway serves, key order included', async (t) => {
  const policy = {
    availableModels: ['haiku', 'claude-sonnet-4-6'],
    permissions: { deny: ['WebFetch'], allow: ['Bash(ls)'] },
    env: { TEAM: 'contractors', UNI: 'x' },
    hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'echo c' }] }] },
    disabledMcpjsonServers: ['a', 'b'],
  }
  const merged = mergeSettings(BASE, policy)
  // Observed from the reference 2.1.328 for the same two blocks.
  t.equal(JSON.stringify(merged), '{"availableModels":["haiku","claude-sonnet-4-6"],"permissions":{"deny":["Read(./.env)","WebFetch"],"ask":["Bash(git push)"],"allow":["Bash(ls)"],"defaultMode":"default"},"env":{"DISABLE_UPDATES":"1","TEAM":"contractors","UNI":"x"},"hooks":{"PreToolUse":[{"matcher":"Edit","hooks":[{"type":"command","command":"echo b"}]},{"matcher":"Bash","hooks":[{"type":"command","command":"echo c"}]}],"Stop":[{"hooks":[{"type":"command","command":"echo s"}]}]},"disabledMcpjsonServers":["b","c","a"],"companyAnnouncements":["hi"],"sandbox":{"network":{"allowedDomains":["example.com"]}}}')
  t.equal(JSON.stringify(mergeSettings(BASE, { model: 'opus' })).endsWith(',"model":"opus"}'), true, 'new keys are appended')
  t.same(mergeSettings(BASE, {}), BASE, 'an empty policy inherits everything')
  t.same(BASE.env, { DISABLE_UPDATES: '1', TEAM: 'base' }, 'inputs are not modified')
})

t.test('each rule on its own', async (t) => {
  t.same(mergeSettings({ availableModels: ['a', 'b'] }, { availableModels: [] }).availableModels, [], 'allow-list replaced, even by an empty list')
  t.same(mergeSettings({ permissions: { allow: ['Read'] } }, { permissions: { allow: ['Edit'] } }).permissions, { allow: ['Edit'] }, 'permissions.allow replaced')
  t.same(mergeSettings({ permissions: { deny: ['A'], ask: ['X'] } }, { permissions: { deny: ['B', 'A'], ask: ['Y'] } }).permissions, { deny: ['A', 'B'], ask: ['X', 'Y'] }, 'deny and ask unioned')
  t.same(mergeSettings({ permissions: { defaultMode: 'default' } }, { permissions: { defaultMode: 'plan' } }).permissions, { defaultMode: 'plan' }, 'other permission keys replaced')
  t.same(mergeSettings({}, { permissions: { deny: ['A'] } }).permissions, { deny: ['A'] })
  t.same(mergeSettings({ permissions: { deny: ['A'] } }, {}).permissions, { deny: ['A'] })
  for (const k of ['env', 'modelOverrides', 'skillOverrides']) {
    t.same(mergeSettings({ [k]: { a: '1', b: '2' } }, { [k]: { b: '3', c: '4' } })[k], { a: '1', b: '3', c: '4' }, `${k} shallow-merged`)
  }
  t.same(mergeSettings({ sandbox: { enabled: true, network: { allowedDomains: ['a'] } } }, { sandbox: { network: { allowedDomains: ['b'] } } }).sandbox,
    { network: { allowedDomains: ['b'] } }, 'other objects replaced whole')
  for (const k of ['disabledMcpjsonServers', 'deniedMcpServers', 'blockedMarketplaces', 'deniedModels']) {
    t.same(mergeSettings({ [k]: [{ serverName: 'a' }, 'x'] }, { [k]: ['x', { serverName: 'a' }, 'y'] })[k], [{ serverName: 'a' }, 'x', 'y'], `${k} unioned by JSON identity`)
  }
  t.same(mergeSettings({ hooks: { Stop: [1] } }, { hooks: { Stop: [2, 1], SessionStart: [3] } }).hooks, { Stop: [1, 2], SessionStart: [3] }, 'hook events unioned')
  t.same(mergeSettings({ model: 'a', verbose: true }, { model: 'b' }), { model: 'b', verbose: true }, 'scalars replaced, unlisted kept')
  t.notOk('permissions' in mergeSettings({ a: 1 }, { b: 2 }), 'absent keys stay absent')
})

t.test('unionLists edge cases', async (t) => {
  t.equal(unionLists(undefined, undefined), undefined)
  t.same(unionLists([], undefined), [])
  t.same(unionLists(undefined, ['a', 'a']), ['a'])
  t.same(unionLists('not a list', ['a']), ['a'])
  t.same(unionLists([{ a: 1, b: 2 }], [{ b: 2, a: 1 }]), [{ a: 1, b: 2 }], 'key order does not make a different entry')
})

t.test('Desktop overlays', async (t) => {
  t.equal(mergeDesktop(undefined, undefined), undefined)
  t.same(mergeDesktop({}, undefined), {}, 'the base opts every policy in')
  t.same(mergeDesktop(undefined, { a: 1 }), { a: 1 })
  t.same(mergeDesktop({ a: 1, b: [1] }, { b: [2] }), { a: 1, b: [2] }, 'base fills unset keys; arrays replaced whole')
  t.same(mergeDesktop({ disabledBuiltinTools: ['Bash'] }, { disabledBuiltinTools: ['WebFetch', 'Bash'] })?.disabledBuiltinTools, ['Bash', 'WebFetch'], 'disabledBuiltinTools unioned')
  t.equal(mergeDesktop({ builtinToolPolicy: 'deny' }, { builtinToolPolicy: 'allow' })?.builtinToolPolicy, 'deny', 'a non-allow base value wins')
  t.equal(mergeDesktop({ builtinToolPolicy: 'allow' }, { builtinToolPolicy: 'ask' })?.builtinToolPolicy, 'ask')
  t.same(mergeDesktop({ builtinToolPolicy: { Bash: 'deny', Read: 'allow' } }, { builtinToolPolicy: { Bash: 'allow', Read: 'ask', Edit: 'allow' } })?.builtinToolPolicy,
    { Bash: 'deny', Read: 'ask', Edit: 'allow' }, 'per tool when it is a mapping')
})
