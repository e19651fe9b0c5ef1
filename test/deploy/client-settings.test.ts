/**
 * `weir client-settings`: stdout is exactly the managed-settings JSON, stderr names the per-OS paths,
 * and every misuse is refused with EX_USAGE (64) and nothing on stdout.
 */
import { spawnSync } from 'node:child_process'
import t from 'tap'
import {
  EX_USAGE,
  MANAGED_SETTINGS_PATHS,
  normalizeGatewayUrl,
  runClientSettings,
} from '../../lib/cli/client-settings.js'

async function run (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runClientSettings(argv, { stdout: (s) => { out += s }, stderr: (s) => { err += s } })
  return { code, out, err }
}

t.test('prints the managed settings document on stdout and the install paths on stderr', async (t) => {
  const r = await run(['--url', 'https://gw.internal.example.com'])
  t.equal(r.code, 0)
  t.same(JSON.parse(r.out), { forceLoginMethod: 'gateway', forceLoginGatewayUrl: 'https://gw.internal.example.com' })
  t.equal(Object.keys(JSON.parse(r.out)).length, 2, 'no other keys')
  t.match(r.out, /^\{\n {2}"forceLoginMethod"/, 'pretty-printed')
  t.ok(r.out.endsWith('}\n'), 'ends with a newline')
  t.notMatch(r.out, /managed-settings\.json/, 'stdout holds nothing but the JSON')
  t.match(r.err, '/Library/Application Support/ClaudeCode/managed-settings.json')
  t.match(r.err, '/etc/claude-code/managed-settings.json')
  t.match(r.err, 'C:\\Program Files\\ClaudeCode\\managed-settings.json')
  t.match(r.err, /macOS/)
  t.match(r.err, /Linux/)
  t.match(r.err, /Windows/)
})

t.test('the path table covers the three operating systems', async (t) => {
  t.same(MANAGED_SETTINGS_PATHS.map((p) => p.os), ['macOS', 'Linux/WSL', 'Windows'])
})

t.test('one trailing slash is stripped, host lower-cased, paths kept', async (t) => {
  const r = await run(['--url=https://GW.Internal.Example.com/'])
  t.equal(r.code, 0)
  t.equal(JSON.parse(r.out).forceLoginGatewayUrl, 'https://gw.internal.example.com')
  t.equal(normalizeGatewayUrl('https://gw.corp.example:8443/claude/'), 'https://gw.corp.example:8443/claude')
  t.equal(normalizeGatewayUrl('https://gw.corp.example//'), 'https://gw.corp.example/', 'only one slash is stripped')
})

t.test('http is accepted for loopback hosts only', async (t) => {
  for (const url of ['http://localhost:8080', 'http://127.0.0.1:8080/', 'http://127.3.4.5', 'http://[::1]:8080']) {
    const r = await run(['--url', url])
    t.equal(r.code, 0, url)
    t.ok(JSON.parse(r.out).forceLoginGatewayUrl.startsWith('http://'), url)
  }
  for (const url of ['http://gw.internal.example.com', 'http://10.0.0.5:8080', 'http://128.0.0.1', 'http://[::2]']) {
    const r = await run(['--url', url])
    t.equal(r.code, EX_USAGE, url)
    t.equal(r.out, '', `${url}: nothing on stdout`)
    t.match(r.err, /https/, url)
  }
})

t.test('bad URLs are usage errors', async (t) => {
  for (const url of ['', '   ', 'gw.internal.example.com', 'ftp://gw.example.com', 'https://user:pw@gw.example.com',
    'https://gw.example.com/?x=1', 'https://gw.example.com/#frag', 'file:///etc/passwd']) {
    const r = await run(['--url', url])
    t.equal(r.code, EX_USAGE, JSON.stringify(url))
    t.equal(r.out, '', `${JSON.stringify(url)}: nothing on stdout`)
    t.match(r.err, /^weir client-settings: /, JSON.stringify(url))
  }
})

t.test('flag errors', async (t) => {
  const missing = await run([])
  t.equal(missing.code, EX_USAGE)
  t.match(missing.err, /--url is required/)
  t.equal(missing.out, '')

  const unknown = await run(['--url', 'https://gw.example.com', '--bogus'])
  t.equal(unknown.code, EX_USAGE)
  t.match(unknown.err, /bogus/)
  t.equal(unknown.out, '')

  const positional = await run(['https://gw.example.com'])
  t.equal(positional.code, EX_USAGE)
  t.equal(positional.out, '')

  const noValue = await run(['--url'])
  t.equal(noValue.code, EX_USAGE)
})

t.test('--help prints usage on stdout and succeeds', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await run([flag])
    t.equal(r.code, 0)
    t.match(r.out, /Usage: weir client-settings --url/)
    t.equal(r.err, '')
  }
})

t.test('as a process: stdout redirected to a file is exactly the JSON document', async (t) => {
  const moduleUrl = new URL('../../lib/cli/client-settings.js', import.meta.url).href
  const code = `import { runClientSettings } from ${JSON.stringify(moduleUrl)}; process.exitCode = await runClientSettings(process.argv.slice(1))`
  const ok = spawnSync(process.execPath, ['--input-type=module', '-e', code, '--', '--url', 'https://gw.internal.example.com/'], { encoding: 'utf8' })
  t.equal(ok.status, 0, ok.stderr)
  t.equal(ok.stdout, '{\n  "forceLoginMethod": "gateway",\n  "forceLoginGatewayUrl": "https://gw.internal.example.com"\n}\n')
  t.match(ok.stderr, '/etc/claude-code/managed-settings.json')
  const bad = spawnSync(process.execPath, ['--input-type=module', '-e', code, '--', '--url', 'http://gw.internal.example.com'], { encoding: 'utf8' })
  t.equal(bad.status, EX_USAGE)
  t.equal(bad.stdout, '')
})
