/**
 * deploy/vm: the systemd unit carries the hardening, credential and restart settings the runbook
 * promises; gateway.yaml.example reads exactly the credentials the unit loads; the environment
 * example sets the worker count; and the Vector pipeline's split rule separates the two streams
 * that lib/log.ts actually writes.
 */
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { audit, ops, setLogLevel, setLogSink } from '../../lib/log.js'
import { at } from './fixtures/manifest-checks.js'
import { fileRefs, readRepo, repoPath, run, which } from './fixtures/repo.js'

type Unit = Record<string, Array<[string, string]>>

/** Parse a systemd unit into sections of (key, value) pairs, keeping repeated keys. */
function parseUnit (text: string): Unit {
  const unit: Unit = {}
  let section = ''
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = pending + raw.trim()
    pending = ''
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    if (line.endsWith('\\')) { pending = line.slice(0, -1) + ' '; continue }
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec !== null) { section = sec[1]!; unit[section] ??= []; continue }
    const eq = line.indexOf('=')
    if (eq > 0) unit[section]!.push([line.slice(0, eq), line.slice(eq + 1)])
  }
  return unit
}

const unitText = readRepo('deploy/vm/weir.service')
const unit = parseUnit(unitText)
const all = (section: string, key: string): string[] => (unit[section] ?? []).filter(([k]) => k === key).map(([, v]) => v)
const one = (section: string, key: string): string | undefined => all(section, key).at(-1)

t.test('the unit runs weir serve as a dedicated user with a worker count', async (t) => {
  t.equal(one('Service', 'User'), 'weir')
  t.equal(one('Service', 'Group'), 'weir')
  t.notOk(all('Service', 'DynamicUser').includes('yes'), 'a stable dedicated user, created by weir.sysusers.conf')
  t.match(readRepo('deploy/vm/weir.sysusers.conf'), /^u weir /m)
  const exec = one('Service', 'ExecStart') ?? ''
  t.match(exec, /^\/usr\/bin\/node \/opt\/weir\/current\/dist\/bin\/weir\.js serve --config \/etc\/weir\/gateway\.yaml --workers \$\{WEIR_WORKERS\}$/)
  t.ok(all('Service', 'Environment').some((e) => /^WEIR_WORKERS=\d+$/.test(e)), 'a default worker count')
  t.equal(one('Service', 'EnvironmentFile'), '-/etc/weir/weir.env')
  t.equal(one('Install', 'WantedBy'), 'multi-user.target')
})

t.test('restart policy and shutdown budget', async (t) => {
  t.equal(one('Service', 'Restart'), 'on-failure')
  t.equal(one('Service', 'RestartPreventExitStatus'), '78', 'an invalid config is not retried forever')
  const drain = Number(/^CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS=(\d+)$/.exec(all('Service', 'Environment').find((e) => e.startsWith('CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS=')) ?? '')?.[1])
  t.ok(Number.isFinite(drain), 'drain timeout set explicitly')
  t.ok(Number(String(one('Service', 'TimeoutStopSec')).replace(/s$/, '')) > drain / 1000, 'TimeoutStopSec exceeds the drain timeout')
  t.equal(one('Service', 'KillSignal') ?? 'SIGTERM', 'SIGTERM')
})

t.test('the sandbox keys are present', async (t) => {
  const expected: Record<string, string> = {
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectControlGroups: 'yes',
    RestrictSUIDSGID: 'yes',
    RestrictNamespaces: 'yes',
    LockPersonality: 'yes',
    CapabilityBoundingSet: '',
    StateDirectory: 'weir',
    UMask: '0077',
  }
  for (const [k, v] of Object.entries(expected)) t.equal(one('Service', k), v, `${k}=${v}`)
  t.match(String(one('Service', 'RestrictAddressFamilies')), /AF_INET AF_INET6/)
  t.ok(all('Service', 'SystemCallFilter').includes('@system-service'))
  t.not(one('Service', 'MemoryDenyWriteExecute'), 'yes', 'V8 needs W+X pages; turning this on breaks node')
})

t.test('credentials: every ${file:} in the example config is a LoadCredential, and back', async (t) => {
  const creds = new Map(all('Service', 'LoadCredential').map((v) => {
    const [name, path] = v.split(':') as [string, string]
    return [name, path]
  }))
  t.ok(creds.size >= 3)
  for (const path of creds.values()) t.match(path, /^\/etc\/weir\/credentials\//, 'source files outside the service-readable tree')
  const config = parseYaml(readRepo('deploy/vm/gateway.yaml.example'))
  const refs = fileRefs(config)
  const names = refs.map((r) => /^\/run\/credentials\/weir\.service\/([\w-]+)$/.exec(r)?.[1])
  t.notOk(names.includes(undefined), 'every secret is read from the service credentials directory')
  t.same([...new Set(names)].sort(), [...creds.keys()].sort(), 'loaded credentials and referenced files are the same set')
  t.equal(at(config, 'listen', 'port'), 8080)
  t.match(String(at(config, 'session', 'jwt_secret', 0)), /^\$\{file:/)
})

t.test('the environment example is KEY=value lines with a worker count', async (t) => {
  const lines = readRepo('deploy/vm/weir.env.example').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const l of lines) t.match(l, /^[A-Z_][A-Z0-9_]*=\S*$/, l)
  t.ok(lines.some((l) => /^WEIR_WORKERS=\d+$/.test(l)))
  t.ok(lines.some((l) => /^CLAUDE_GATEWAY_LOG_LEVEL=(debug|info|warn|error)$/.test(l)))
  t.notOk(lines.some((l) => /SECRET|PASSWORD|API_KEY/i.test(l)), 'no secrets in the environment file')
})

t.test('systemd accepts the unit', { skip: which('systemd-analyze') === undefined ? 'systemd-analyze is not on PATH' : false }, async (t) => {
  const r = run('systemd-analyze', ['verify', repoPath('deploy/vm/weir.service')])
  const complaints = (r.stdout + r.stderr).split('\n').filter((l) => /Unknown (key|section|lvalue)|Failed to parse|Invalid|Missing '='/i.test(l))
  t.same(complaints, [], 'no unknown or malformed settings')
})

t.test('the Vector split rule separates the streams lib/log.ts writes', async (t) => {
  const vector = parseYaml(readRepo('deploy/vm/vector.yaml'))
  t.same(at(vector, 'sources', 'weir_journal', 'include_units'), ['weir.service'])
  const routes = at(vector, 'transforms', 'weir_split', 'route') as Record<string, string>
  const prefixOf = (cond: string): string => /starts_with\(string!\(\.message\), "(.+)"\)/.exec(cond)?.[1] ?? '<none>'
  const auditPrefix = prefixOf(routes.audit ?? '')
  const opsPrefix = prefixOf(routes.ops ?? '')

  const lines: string[] = []
  setLogSink((l) => { lines.push(l.replace(/\n$/, '')) })
  setLogLevel('info')
  try {
    audit('session.mint', { sub: 'abc', email: 'dev@example.com', client_ip: '10.0.0.1' })
    audit('inference', { upstream: 'anthropic', status: 200 })
    ops.warn('upstream slow: {"not":"json"}')
    ops.info('boot complete')
  } finally {
    setLogSink(undefined)
    setLogLevel(process.env.CLAUDE_GATEWAY_LOG_LEVEL)
  }
  const auditLines = lines.filter((l) => l.startsWith(auditPrefix))
  const opsLines = lines.filter((l) => l.startsWith(opsPrefix))
  t.equal(auditLines.length, 2, 'audit route takes the two audit events')
  t.equal(opsLines.length, 2, 'ops route takes the two [gateway] lines')
  for (const l of auditLines) t.ok(JSON.parse(l).evt, 'audit lines are JSON with evt')
  const opsRegex = /^\[gateway\] (\S+) (\w+) (.*)$/
  t.match(String(at(vector, 'transforms', 'weir_ops', 'source')), /\^\\\[gateway\\\] \(\?P<ts>\\S\+\) \(\?P<level>\\w\+\) \(\?P<msg>\.\*\)\$/)
  for (const l of opsLines) t.match(l, opsRegex, 'the ops parser pattern matches real lines')
})
