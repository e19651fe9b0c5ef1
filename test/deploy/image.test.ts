/**
 * The built image, exercised: `weir version` inside it (Node 24, the current uWS build, glibc ≥
 * 2.38), then `weir serve` from it with a read-only root filesystem as the image's own numeric
 * user, against a real Postgres, a real OIDC provider and a fake Anthropic upstream: a device-flow
 * sign-in through it, one streamed request, and a clean exit on SIGTERM.
 *
 * The image is built by scripts/ci/image.sh (buildah) and run by scripts/ci/run-image.sh (its
 * rootfs mounted read-only in a private mount namespace, the way `docker run --read-only` runs
 * it); .ci/run passes its name in WEIR_CI_IMAGE. Without buildah, root or a built image the file
 * skips and says which.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { signIn } from '../auth/helpers/flow.js'
import { simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { baseConfig } from '../helpers/gateway.js'
import { freshDatabase } from '../helpers/pg.js'
import { repoPath, which } from './fixtures/repo.js'

const IMAGE = process.env.WEIR_CI_IMAGE
const RUN = repoPath('scripts/ci/run-image.sh')
const skip = which('buildah') === undefined
  ? 'buildah is not installed (scripts/ci/image.sh installs it)'
  : process.getuid?.() !== 0
    ? 'running an image without a container engine needs root (mount namespace, chroot)'
    : IMAGE === undefined || IMAGE === ''
      ? 'no image was built in this run (.ci/run builds one with scripts/ci/image.sh and sets WEIR_CI_IMAGE)'
      : false

function configFile (cfg: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'weir-image-'))
  chmodSync(dir, 0o755) // the image's user (uid 10001) reads it through the bind mount
  const p = join(dir, 'gateway.yaml')
  writeFileSync(p, stringify(cfg), { mode: 0o644 })
  return p
}

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

t.test('weir version inside the image: Node 24, the current uWS build, glibc ≥ 2.38', { skip }, async (t) => {
  const r = spawnSync(RUN, [IMAGE!, configFile({}), 'version'], { encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /^node v24\.\d+\.\d+ \(ABI 137, linux-x64\)$/m)
  t.match(r.stdout, /^uWebSockets\.js @btc-vision\/uwebsockets\.js \d+\.\d+\.\d+ \(current build\)$/m)
  const glibc = /^glibc 2\.(\d+)$/m.exec(r.stdout)
  t.ok(glibc !== null && Number(glibc[1]) >= 38, `glibc ≥ 2.38 (${glibc?.[0] ?? 'none'})`)
})

t.test('the image serves read-only as uid 10001: sign-in, one streamed request, SIGTERM', { skip }, async (t) => {
  const idp = await startDevIdp({
    users: [{ sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] }],
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }],
  })
  t.teardown(() => idp.close())
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('FROM-THE-IMAGE'), delayMs: 5 }))
  t.teardown(() => fake.close())
  const db = await freshDatabase(t)
  const port = await freePort()
  const cfg = baseConfig(idp.issuer, db.url)
  cfg.listen.port = port
  cfg.upstreams = [{ provider: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-image' } }]
  const child = spawn(RUN, [IMAGE!, configFile(cfg)], {
    env: { ...process.env, WEIR_RUN_ENV: 'CLAUDE_GATEWAY_ALLOW_LOOPBACK=1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => { stderr += d })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 120_000)
    child.stderr.on('data', () => { if (stderr.includes('weir listening on')) { clearTimeout(timer); resolve() } })
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${String(c)}: ${stderr}`)) })
  })
  t.notMatch(stderr, /legacy Node 20 build/, 'no uWS fallback line in the image')

  const status = readFileSync(`/proc/${child.pid!}/status`, 'utf8')
  t.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m, 'runs as uid 10001')
  t.match(status, /^Gid:\s+10001\s/m)
  const rootMount = readFileSync(`/proc/${child.pid!}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')
  t.ok(rootMount, 'the process has a root mount')
  t.match(rootMount!.split(' ')[5], /(^|,)ro(,|$)/, 'its root filesystem is read-only')

  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/healthz`)).status, 200)
  const { token } = await signIn(base)
  t.equal(token.status, 200, token.text)
  const bearer = (token.json() as { access_token: string }).access_token
  const r = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /text\/event-stream/)
  const body = await r.text()
  t.match(body, /FROM-THE-IMAGE/, 'the upstream stream came through the image')
  t.match(body, /event: message_stop/)
  t.equal(fake.requests[0]?.headers['x-api-key'], 'sk-image', 'with the gateway-held credential')

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'clean exit after SIGTERM')
  t.match(stderr, /SIGTERM received: draining/)
})
