/**
 * `weir serve --watch` as an operator runs it, with the config mounted the way Kubernetes mounts a
 * ConfigMap (`gateway.yaml` → `..data/gateway.yaml`, `..data` → a versioned directory swapped by
 * an atomic rename): SIGHUP re-reads a `${file:}` value, a symlink swap is picked up without a
 * signal, a needs-restart key is logged and not applied, a bad file is refused with file:line:col.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { baseConfig, TEST_SECRET } from '../helpers/gateway.js'
import { freshDatabase } from '../helpers/pg.js'

const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')
const ENV = { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }
const BOB = { authorization: `Bearer ${mintToken(keyRing([TEST_SECRET]), { sub: 'u-bob', email: 'bob@corp.example', groups: ['contractors'] }, { ttlHours: 1 }).token}` }

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

/** Poll `probe` until it returns true (the guarantee is eventual: a signal or file event is asynchronous). */
async function until (what: string, probe: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('serve --watch: SIGHUP, a ConfigMap symlink swap, a needs-restart key, a bad file', async (t) => {
  const idp = await startDevIdp({ users: [{ sub: 'u1', email: 'a@example.com' }], clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/cb'] }] })
  t.teardown(() => idp.close())
  const db = await freshDatabase(t)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'weir-watch-'))
  const teamFile = join(dir, 'team')
  writeFileSync(teamFile, 'red\n')
  const cfg = baseConfig(idp.issuer, db.url)
  cfg.listen.port = port
  cfg.managed = { policies: [{ match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'], env: { TEAM: `\${file:${teamFile}}` } } }] }
  let version = 0
  const publish = (text: string): void => {
    // What the kubelet does: write a new versioned directory, point ..data_tmp at it, rename over ..data.
    version++
    mkdirSync(join(dir, `..v${version}`))
    writeFileSync(join(dir, `..v${version}`, 'gateway.yaml'), text)
    symlinkSync(`..v${version}`, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  publish(stringify(cfg))
  symlinkSync('..data/gateway.yaml', join(dir, 'gateway.yaml'))

  const child = spawn(process.execPath, [WEIR, 'serve', '--config', join(dir, 'gateway.yaml'), '--workers', '2', '--watch'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => { stderr += d })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await until('the listening line', () => stderr.includes('weir listening on'), 30_000)
  const base = `http://127.0.0.1:${port}`
  const settings = async (): Promise<{ checksum: string, settings: Record<string, any> }> => await (await fetch(`${base}/managed/settings`, { headers: BOB })).json() as { checksum: string, settings: Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any

  const first = await settings()
  t.equal(first.settings.env.TEAM, 'red')

  await t.test('SIGHUP re-reads ${file:} targets (the config file itself did not change)', async (t) => {
    writeFileSync(teamFile, 'blue\n')
    child.kill('SIGHUP')
    await until('the rotated value', async () => (await settings()).settings.env.TEAM === 'blue')
    const now = await settings()
    t.not(now.checksum, first.checksum, 'clients see a new checksum')
    await until('the reload log line', () => /config reload \(SIGHUP\): 1 change\(s\) applied live/.test(stderr))
    t.match(stderr, /managed\.policies\[0\]\.cli\.env\.TEAM changed/, 'the changed key is logged')
    t.notMatch(stderr, /blue/, 'the value read from the file is not logged')
  })

  await t.test('--watch follows a symlink swap; a needs-restart key is logged and not applied', async (t) => {
    const next = structuredClone(cfg)
    next.managed.policies[0].cli.availableModels = ['haiku', 'sonnet']
    next.listen.port = port + 1
    publish(stringify(next))
    await until('the swapped policy', async () => JSON.stringify((await settings()).settings.availableModels) === '["haiku","sonnet"]')
    await until('the reload log line', () => /config reload \(file changed\)/.test(stderr))
    await until('the needs-restart line', () => /listen\.port changed but needs a restart/.test(stderr))
    t.equal((await fetch(`${base}/healthz`)).status, 200, 'still serving on the boot port')
    const readyz = await (await fetch(`${base}/readyz`)).text()
    t.match(readyz, /restart needed to apply: listen\.port/)
  })

  await t.test('a bad file through --watch is refused with file:line:column and the config stays', async (t) => {
    publish(`${stringify(cfg)}surprise_key: 1\n`)
    await until('the refusal', () => /config reload \(file changed\) failed/.test(stderr))
    await until('the problem line', () => /gateway\.yaml:\d+:\d+ surprise_key/.test(stderr))
    t.same((await settings()).settings.availableModels, ['haiku', 'sonnet'], 'the running config stays')
    const readyz = await fetch(`${base}/readyz`)
    t.equal(readyz.status, 200)
    t.match(await readyz.text(), /last config reload failed/)
  })

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'clean exit after SIGTERM')
})
