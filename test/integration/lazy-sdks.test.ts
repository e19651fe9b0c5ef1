/**
 * The cloud and telemetry SDKs are loaded only by a thread whose config needs them
 * (lib/cloud/sdk.ts, lib/telemetry/exporter.ts). A real `weir serve` child process runs with
 * test/helpers/module-probe.js preloaded, which makes every thread (primary, HTTP worker, metering
 * pool, once started) report the CommonJS modules it has loaded: with only an Anthropic upstream no thread may
 * hold google-auth-library, aws4, the AWS event-stream codec or OpenTelemetry. A reload (SIGHUP)
 * that adds a Vertex upstream with a key file then loads google-auth-library in the worker, and a
 * request routed to Vertex gets a token from it and is served.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { simpleStream, startFakeUpstream, type Answer } from '../helpers/fake-upstream.js'
import { baseConfig, TEST_SECRET } from '../helpers/gateway.js'
import type { ProbeReport } from '../helpers/module-probe.js'
import { freshDatabase } from '../helpers/pg.js'
import { form, sendJson, tinyServer } from '../proxy/upstreams/fakes.js'

const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')
const PROBE = resolve(ROOT, 'dist', 'test', 'helpers', 'module-probe.js')
const AUTH = { authorization: `Bearer ${mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
/** A package's files, in any node_modules (module paths are absolute). */
const SDKS: Record<string, RegExp> = {
  'google-auth-library': /[/\\]node_modules[/\\]google-auth-library[/\\]/,
  aws4: /[/\\]node_modules[/\\]aws4[/\\]/,
  '@smithy/eventstream-codec': /[/\\]node_modules[/\\]@smithy[/\\]eventstream-codec[/\\]/,
  '@opentelemetry': /[/\\]node_modules[/\\]@opentelemetry[/\\]/,
}
const UWS = /[/\\]node_modules[/\\]uWebSockets\.js[^/\\]*[/\\]/

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

async function until (what: string, probe: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Every thread's last report, once the primary's and the HTTP worker's were written after `since`
 * (so they reflect everything done before). A pool thread that exited (idle) keeps its last one.
 */
async function reports (dir: string, since: number): Promise<ProbeReport[]> {
  let got: ProbeReport[] = []
  await until('fresh module reports from the primary and the worker', () => {
    got = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ProbeReport)
    const fresh = got.filter((r) => r.at > since)
    return fresh.some((r) => r.main) && fresh.some((r) => !r.main && r.modules.some((m) => UWS.test(m)))
  })
  return got
}

const loaded = (r: ProbeReport, sdk: string): string[] => r.modules.filter((m) => (SDKS[sdk] as RegExp).test(m))

t.test('an Anthropic-only gateway loads no cloud SDK in any thread; a reload adding Vertex loads it then', async (t) => {
  t.ok(existsSync(PROBE), 'the probe is built')
  const idp = await startDevIdp({ users: [{ sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }], clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/cb'] }] })
  t.teardown(() => idp.close())
  const db = await freshDatabase(t)
  const fake = await startFakeUpstream((r): Answer => {
    if (r.url.startsWith('/v1/projects/corp-prod/locations/us-east5/publishers/anthropic/models/')) {
      return r.headers.authorization === 'Bearer ya29.federated'
        ? { kind: 'sse', frames: simpleStream('served by vertex') }
        : { kind: 'json', status: 401, body: { error: { code: 401, message: 'bad token', status: 'UNAUTHENTICATED' } } }
    }
    return { kind: 'sse', frames: simpleStream('served by anthropic') }
  })
  t.teardown(() => fake.close())
  const sts = await tinyServer((s, res) => {
    const f = form(s.body)
    if (f.subject_token !== 'k8s-sa-jwt') { sendJson(res, 400, { error: 'invalid_grant' }); return }
    sendJson(res, 200, { access_token: 'ya29.federated', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 })
  })
  t.teardown(() => sts.close())

  const dir = mkdtempSync(join(tmpdir(), 'weir-lazy-sdks-'))
  const probeDir = mkdtempSync(join(tmpdir(), 'weir-lazy-sdks-probe-'))
  const port = await freePort()
  const cfg = baseConfig(idp.issuer, db.url)
  cfg.listen.port = port
  cfg.upstreams = [{ provider: 'anthropic', name: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-test' } }]
  // Spend metering on, so the metering pool thread runs too.
  cfg.admin = { write_keys: [{ id: 'test', key: 'k'.repeat(40) }] }
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, stringify(cfg))

  const child = spawn(process.execPath, ['--import', PROBE, WEIR, 'serve', '--config', file, '--workers', '1'], {
    env: { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', WEIR_MODULE_PROBE_DIR: probeDir, HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => { stderr += d })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await until('the listening line', () => stderr.includes('weir listening on'), 30_000)
  const base = `http://127.0.0.1:${port}`
  const ask = async (model: string): Promise<{ status: number, text: string }> => {
    const r = await fetch(`${base}/v1/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify({ model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }) })
    return { status: r.status, text: await r.text() }
  }

  const first = await ask('claude-sonnet-4-5-20250929')
  t.equal(first.status, 200)
  t.match(first.text, /served by anthropic/)
  const before = await reports(probeDir, Date.now())
  const main = before.find((r) => r.main)
  const worker = before.find((r) => !r.main && r.modules.some((m) => UWS.test(m)))
  t.ok(main, 'the primary reported')
  t.ok(worker, 'the HTTP worker reported (it holds uWebSockets.js: the probe sees packages ESM imported)')
  t.same(worker?.modules.filter((m) => /[/\\]node_modules[/\\]piscina[/\\]/.test(m)), [], 'the HTTP worker does not load Piscina (only the primary runs the pool)')
  for (const r of before) {
    for (const sdk of Object.keys(SDKS)) t.same(loaded(r, sdk), [], `thread ${r.threadId}${r.main ? ' (primary)' : ''}: ${sdk} not loaded`)
  }

  // The reload that adds Vertex (a key file: the token comes from google-auth-library).
  const keyFile = join(dir, 'external-account.json')
  const tokenFile = join(dir, 'k8s-sa-token')
  writeFileSync(tokenFile, 'k8s-sa-jwt')
  writeFileSync(keyFile, JSON.stringify({
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${sts.url}/v1/token`,
    credential_source: { file: tokenFile },
  }))
  cfg.upstreams = [
    { provider: 'vertex', name: 'vertex', region: 'us-east5', project_id: 'corp-prod', base_url: `${fake.url}/v1`, auth: { service_account_json: keyFile }, models: ['claude-opus-4-1'] },
    ...cfg.upstreams,
  ]
  writeFileSync(file, stringify(cfg))
  child.kill('SIGHUP')
  await until('the reload log line', () => /config reload \(SIGHUP\): .*applied live/.test(stderr))
  let vx = { status: 0, text: '' }
  await until('a request served by Vertex', async () => { vx = await ask('claude-opus-4-1'); return vx.status === 200 })
  t.match(vx.text, /served by vertex/, 'the Vertex upstream got a token from google-auth-library and was served')
  t.ok(sts.seen.length >= 1, 'the token came from the STS exchange')
  const after = await reports(probeDir, Date.now())
  const worker2 = after.find((r) => r.threadId === worker?.threadId)
  t.ok(worker2 !== undefined && loaded(worker2, 'google-auth-library').length > 0, 'the worker loaded google-auth-library with the reload')
  for (const r of after) {
    for (const sdk of ['aws4', '@smithy/eventstream-codec', '@opentelemetry']) t.same(loaded(r, sdk), [], `after the reload, thread ${r.threadId}: ${sdk} still not loaded`)
  }
  t.same((await ask('claude-sonnet-4-5-20250929')).status, 200, 'the Anthropic upstream still serves')

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'clean exit after SIGTERM')
})
