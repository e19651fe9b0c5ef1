/**
 * `weir validate --diff OLD NEW` as a separate process: what changed, live or needing a restart,
 * secrets and interpolated values redacted, and the exit status (0 same, 1 live only, 2 restart,
 * 78 invalid, 64 usage).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../../lib/version.js'
import { baseYaml } from '../helpers/config.js'

const CLI = join(ROOT, 'dist/bin/weir.js')
const dir = mkdtempSync(join(tmpdir(), 'weir-diff-'))
let n = 0
function file (text: string): string {
  const p = join(dir, `g${++n}.yaml`)
  writeFileSync(p, text)
  return p
}
function diff (a: string, b: string, env: NodeJS.ProcessEnv = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'validate', '--diff', a, b], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('identical configs: exit 0, no changes', async (t) => {
  const r = diff(file(baseYaml()), file(baseYaml()))
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /^no changes$/m)
})

t.test('live changes only: exit 1, each key with old and new values', async (t) => {
  const old = file(baseYaml())
  const next = file(baseYaml((c) => {
    c.managed = { policies: [{ match: { groups: ['eng'] }, cli: { availableModels: ['sonnet'] } }] }
    c.limits = { max_request_bytes: 1048576 }
  }))
  const r = diff(old, next)
  t.equal(r.status, 1, r.stderr)
  t.match(r.stdout, /^\+ managed: /m)
  t.match(r.stdout, /^~ limits\.max_request_bytes: \d+ → 1048576$/m)
  t.notMatch(r.stdout, /needs a restart/)
  t.match(r.stdout, /2 change\(s\): 2 apply live on reload \(SIGHUP\), 0 need a restart/)
})

t.test('restart keys are marked and make the exit status 2; secrets are redacted', async (t) => {
  const old = file(baseYaml())
  const next = file(baseYaml((c) => {
    c.listen.port = 9090
    c.store.postgres_url = 'postgres://weir:hunter2-password@db2.example.com/weir'
    c.upstreams[0].auth.api_key = 'sk-rotated-value'
    c.session.jwt_secret = 'another-secret-of-more-than-32-characters'
  }))
  const r = diff(old, next)
  t.equal(r.status, 2, r.stderr)
  t.match(r.stdout, /^~ listen\.port: 8080 → 9090 \[needs a restart: the listen socket is opened at boot\]$/m)
  t.match(r.stdout, /^~ store\.postgres_url: \(secret changed\) \[needs a restart/m)
  t.match(r.stdout, /^~ upstreams\[0\]\.auth\.api_key: \(secret changed\)$/m)
  t.match(r.stdout, /^~ session\.jwt_secret\[0\]: \(secret changed\)$/m)
  for (const s of ['hunter2', 'sk-rotated', 'sk-test', 'another-secret', 'a-secret-of-more']) t.notMatch(r.stdout, s, `${s} is not printed`)
})

t.test('values written with ${...} are redacted whatever the key is called', async (t) => {
  const team = join(dir, 'team')
  writeFileSync(team, 'blue')
  const old = file(baseYaml((c) => { c.managed = { policies: [{ match: {}, cli: { env: { TEAM: 'red' } } }] } }))
  const next = file(baseYaml((c) => { c.managed = { policies: [{ match: {}, cli: { env: { TEAM: `\${file:${team}}` } } }] } }))
  const r = diff(old, next)
  t.equal(r.status, 1, r.stderr)
  t.match(r.stdout, /^~ managed\.policies\[0\]\.cli\.env\.TEAM: \(secret changed\)$/m)
  t.notMatch(r.stdout, /blue/)
})

t.test('an invalid file: exit 78 with file:line:col; usage errors: 64', async (t) => {
  const bad = file(`${baseYaml()}surprise_key: 1\n`)
  const r = diff(file(baseYaml()), bad)
  t.equal(r.status, 78)
  t.match(r.stderr, /g\d+\.yaml:\d+:\d+ surprise_key/)
  const one = spawnSync(process.execPath, [CLI, 'validate', '--diff', bad], { encoding: 'utf8' })
  t.equal(one.status, 64)
  t.match(one.stderr, /two files/)
  const stray = spawnSync(process.execPath, [CLI, 'validate', bad], { encoding: 'utf8' })
  t.equal(stray.status, 64, 'a file without --config or --diff is a usage error')
})
