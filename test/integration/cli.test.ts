/**
 * The `weir` CLI as an operator runs it: separate processes, real config files, real Postgres and
 * IdP. Exit codes (0 / 64 usage / 78 config / 1 boot), the first stderr line, SIGTERM, `migrate`,
 * and `weir dev` from an empty data directory.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { ROOT } from '../../lib/version.js'
import { baseConfig } from '../helpers/gateway.js'
import { freshDatabase } from '../helpers/pg.js'

const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')
const ENV = { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }

function weir (args: string[], env: NodeJS.ProcessEnv = ENV): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [WEIR, ...args], { env, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function writeYaml (obj: unknown, text?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'weir-cli-'))
  const p = join(dir, 'gateway.yaml')
  writeFileSync(p, text ?? stringify(obj))
  return p
}

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

t.test('usage, help and unknown flags', async (t) => {
  const none = weir([])
  t.equal(none.status, 64)
  t.match(none.stdout, /Usage: weir <command>/)
  t.equal(weir(['--help']).status, 0)
  const pkgVersion = JSON.parse(spawnSync('cat', [join(ROOT, 'package.json')], { encoding: 'utf8' }).stdout).version
  t.equal(weir(['--version']).stdout.trim(), pkgVersion, '--version prints the bare version')
  t.equal(weir(['version']).stdout.split('\n')[0], `weir ${pkgVersion}`, 'version starts with it (runtime details follow: test/integration/runtime.test.ts)')
  const unknown = weir(['frobnicate'])
  t.equal(unknown.status, 64)
  t.match(unknown.stderr, /unknown command 'frobnicate'/)
  for (const cmd of ['serve', 'gateway', 'validate', 'migrate', 'dev', 'client-settings']) {
    const h = weir([cmd, '--help'])
    t.equal(h.status, 0, `${cmd} --help`)
    t.match(h.stdout, /Usage: weir/, `${cmd} --help prints usage`)
    const bad = weir([cmd, '--no-such-flag'])
    t.equal(bad.status, 64, `${cmd} rejects unknown flags`)
    t.match(bad.stderr, /no-such-flag/)
  }
  t.equal(weir(['serve']).status, 64, '--config is required')
  t.equal(weir(['serve', '--config', 'x.yaml', '--workers', 'zero']).status, 64)
})

t.test('validate: 0 when valid, 78 with one problem per line when not', async (t) => {
  const good = writeYaml(baseConfig('https://idp.example.com', 'postgres://u@db.internal/weir'))
  const ok = weir(['validate', '--config', good])
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /valid/)

  const badPath = writeYaml(null, [
    'listen: { host: 127.0.0.1, port: 8080 }',
    'oidc: { issuer: "https://idp.example.com", client_id: a, client_secret: b }',
    'session: { jwt_secret: short }',
    'store: { postgres_url: "postgres://db/x" }',
    'upstreams: [ { provider: anthropic, auth: { api_key: "${NOPE_NOT_SET}" } } ]',
    'surprise: 1',
    '',
  ].join('\n'))
  const bad = weir(['validate', '--config', badPath])
  t.equal(bad.status, 78)
  const lines = bad.stderr.trim().split('\n')
  t.ok(lines.length >= 2, 'several problems reported at once')
  t.match(bad.stderr, /NOPE_NOT_SET/, 'missing env var named')
  t.match(bad.stderr, /:5:\d+/, 'with its line')
  t.match(bad.stderr, /surprise/)
  t.match(bad.stderr, /:6:\d+/)

  const serveBad = weir(['serve', '--config', badPath])
  t.equal(serveBad.status, 78, 'serve exits 78 the same way')
  t.equal(serveBad.stderr, bad.stderr, 'and says exactly the same')
})

t.test('serve: config.load first, boots, SIGTERM exits 0; migrate applies then is idempotent', async (t) => {
  const idp = await startDevIdp({ users: [{ sub: 'u1', email: 'a@example.com' }], clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/cb'] }] })
  t.teardown(() => idp.close())
  const db = await freshDatabase(t)
  const port = await freePort()
  const cfg = baseConfig(idp.issuer, db.url)
  cfg.listen.port = port
  const path = writeYaml(cfg)

  const m1 = weir(['migrate', '--config', path])
  t.equal(m1.status, 0, m1.stderr)
  t.match(m1.stdout, /applied migrations: 1/)
  const m2 = weir(['migrate', '--config', path])
  t.equal(m2.status, 0)
  t.match(m2.stdout, /up to date/)

  const child = spawn(process.execPath, [WEIR, 'serve', '--config', path, '--workers', '2'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => { stderr += d })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000)
    child.stderr.on('data', () => { if (stderr.includes('weir listening on')) { clearTimeout(timer); resolve() } })
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${stderr}`)) })
  })
  const first = JSON.parse(stderr.split('\n')[0] as string)
  t.equal(first.evt, 'config.load', 'the first stderr line is the config.load audit event')
  t.equal(first.path, path)
  t.match(first.sha256, /^[0-9a-f]{64}$/)
  const health = await fetch(`http://127.0.0.1:${port}/healthz`)
  t.equal(health.status, 200)
  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'clean exit after SIGTERM')
  t.match(stderr, /SIGTERM received: draining/)
})

t.test('serve: unreachable Postgres and failed OIDC discovery fail boot with a clear reason', async (t) => {
  const deadPort = await freePort()
  const idp = await startDevIdp({ users: [{ sub: 'u1', email: 'a@example.com' }], clients: [{ client_id: 'weir-test', client_secret: 's', redirect_uris: ['http://127.0.0.1/cb'] }] })
  t.teardown(() => idp.close())
  const noDb = weir(['serve', '--config', writeYaml(baseConfig(idp.issuer, `postgres://postgres:secretpw@127.0.0.1:${deadPort}/x`))])
  t.equal(noDb.status, 1)
  t.match(noDb.stderr, /could not connect to Postgres/)
  t.notMatch(noDb.stderr, /secretpw/, 'the password is not printed')

  const db = await freshDatabase(t)
  const badIdpPort = await freePort()
  const noIdp = weir(['serve', '--config', writeYaml(baseConfig(`http://127.0.0.1:${badIdpPort}`, db.url))])
  t.equal(noIdp.status, 1)
  t.match(noIdp.stderr, /OIDC discovery failed/)

  const loopbackRefused = weir(['serve', '--config', writeYaml(baseConfig(idp.issuer, db.url))], { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '' })
  t.equal(loopbackRefused.status === 78 || loopbackRefused.status === 1, true)
  t.match(loopbackRefused.stderr, /CLAUDE_GATEWAY_ALLOW_LOOPBACK/, 'a loopback issuer needs the escape hatch')
})

t.test('weir dev comes up from an empty data dir and stops on Ctrl-C', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dev-'))
  chmodSync(dir, 0o755) // as root, the embedded Postgres runs as 'postgres' and must reach it
  const port = await freePort()
  const env = { ...process.env }
  delete env.ANTHROPIC_API_KEY
  const child = spawn(process.execPath, [WEIR, 'dev', '--port', String(port), '--data-dir', dir, '--user', 'casey@example.com', '--groups', 'eng,ops'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (d: string) => { out += d })
  child.stderr.on('data', (d: string) => { out += d })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`weir dev did not come up: ${out}`)), 90_000)
    child.stdout.on('data', () => { if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve() } })
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${out}`)) })
  })
  t.match(out, `Weir is running at http://127.0.0.1:${port}`)
  t.match(out, /built-in mock/)
  t.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, 'the embedded database answers')
  const disc = await (await fetch(`http://127.0.0.1:${port}/.well-known/oauth-authorization-server`)).json() as { token_endpoint: string }
  t.equal(disc.token_endpoint, `http://127.0.0.1:${port}/oauth/token`)
  const line = new RegExp(`^CLAUDE_CODE_USE_GATEWAY=1 ANTHROPIC_BASE_URL=http://127\\.0\\.0\\.1:${port} ANTHROPIC_AUTH_TOKEN=(eyJ[\\w-]+\\.[\\w-]+\\.[\\w-]+)$`, 'm').exec(out)
  t.ok(line, 'the paste-ready line for the Claude Code CLI, with a bearer for the dev user')
  const bearer = line?.[1] as string
  t.equal(JSON.parse(Buffer.from(bearer.split('.')[1] as string, 'base64url').toString()).email, 'casey@example.com')
  const reply = await fetch(`http://127.0.0.1:${port}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'ping from the dev test' }] }) })
  t.equal(reply.status, 200)
  t.match(JSON.stringify(await reply.json()), /You said: ping from the dev test/, 'the mock upstream answers through the dev gateway')
  child.kill('SIGINT')
  t.equal(await new Promise<number | null>((resolve) => child.once('exit', resolve)), 0)
})
