/**
 * `weir dev --write-client-settings`: the managed settings file gets the two gateway keys, other
 * keys survive, a file that is not a JSON object is left alone. (Tests write under a temp dir,
 * never the real system path.)
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { installCommand, managedSettingsPath, writeManagedSettings } from '../../lib/dev/managed-file.js'

const URL = 'http://127.0.0.1:8080'

t.test('the per-OS path and the install command', async (t) => {
  t.equal(managedSettingsPath('linux'), '/etc/claude-code/managed-settings.json')
  t.equal(managedSettingsPath('darwin'), '/Library/Application Support/ClaudeCode/managed-settings.json')
  t.equal(managedSettingsPath('freebsd'), '/etc/claude-code/managed-settings.json')
  t.equal(installCommand(URL, '/etc/claude-code/managed-settings.json'),
    "sudo mkdir -p '/etc/claude-code' && npx weir client-settings --url http://127.0.0.1:8080 2>/dev/null | sudo tee '/etc/claude-code/managed-settings.json'")
})

t.test('creates, merges, and refuses to clobber', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-managed-'))
  const fresh = join(dir, 'new', 'managed-settings.json')
  t.same(writeManagedSettings(URL, fresh), { ok: true, created: true })
  t.same(JSON.parse(readFileSync(fresh, 'utf8')), { forceLoginMethod: 'gateway', forceLoginGatewayUrl: URL })

  const existing = join(dir, 'existing.json')
  writeFileSync(existing, JSON.stringify({ permissions: { deny: ['WebFetch'] }, forceLoginMethod: 'claudeai' }))
  t.same(writeManagedSettings(URL, existing), { ok: true, created: false })
  t.same(JSON.parse(readFileSync(existing, 'utf8')), { permissions: { deny: ['WebFetch'] }, forceLoginMethod: 'gateway', forceLoginGatewayUrl: URL })

  for (const [name, text] of [['broken.json', '{ nope'], ['list.json', '[1]']] as const) {
    const p = join(dir, name)
    writeFileSync(p, text)
    const r = writeManagedSettings(URL, p)
    t.equal(r.ok, false, name)
    t.match(r.ok ? '' : r.why, /left unchanged/)
    t.equal(readFileSync(p, 'utf8'), text, `${name} untouched`)
  }

  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked')
    writeFileSync(locked, '{}')
    chmodSync(locked, 0o444)
    const r = writeManagedSettings(URL, locked)
    t.match(r.ok ? '' : r.why, /cannot write .*EACCES/)
  }
})
