/**
 * The runtime Weir runs on: which uWebSockets.js build loads (the current one where it can —
 * glibc ≥ 2.38 with a Node ABI it ships — otherwise the legacy Node 20 build, with one startup
 * line), what `weir version` prints, that the JS shim is refused, and that the production build
 * answers HTTP/1.0 and 60-header requests. The expectation is computed from this host's glibc and
 * Node ABI, so the same file checks the fallback path on the host and the production combination
 * in the Debian 13 root (.ci/run).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { resolve } from 'node:path'
import t from 'tap'
import { setLogSink } from '../../lib/log.js'
import { ROOT } from '../../lib/version.js'
import { describeUws, glibcVersion, loadUws, uwsStartupLine } from '../../lib/http/native.js'
import { startTestGateway } from '../helpers/gateway.js'

const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')
const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
  version: string, dependencies: Record<string, string>, optionalDependencies: Record<string, string>
}

/** `npm:@scope/name@1.2.3` → { name, version } */
function alias (spec: string | undefined): { name: string, version: string } {
  const m = /^npm:(@?[^@]+)@(.+)$/.exec(spec ?? '')
  if (m === null) throw new Error(`not an exact npm alias: ${String(spec)}`)
  return { name: m[1]!, version: m[2]! }
}
const CURRENT = alias(pkg.dependencies['uWebSockets.js'])
const LEGACY = alias(pkg.optionalDependencies['uWebSockets.js-legacy-node20'])

const glibc = glibcVersion()
const glibcOk = glibc !== undefined && (() => { const [a, b] = glibc.split('.').map(Number); return a! > 2 || (a === 2 && b! >= 38) })()
const currentShould = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch) && glibcOk &&
  ['115', '127', '137', '141'].includes(process.versions.modules)

t.test('the pins are exact and the build expected on this host loads', async (t) => {
  t.match(CURRENT.version, /^\d+\.\d+\.\d+$/, 'current build pinned to an exact version')
  t.equal(CURRENT.name, '@btc-vision/uwebsockets.js')
  t.equal(LEGACY.name, '@trufflesuite/uws-js-unofficial')
  const b = loadUws()
  t.equal(typeof b.module.App, 'function')
  t.equal(typeof b.module.SSLApp, 'function', 'native build, not the JS shim')
  if (currentShould) {
    t.notOk(b.legacy, `glibc ${String(glibc)}, ABI ${process.versions.modules}: the current build runs`)
    t.equal(b.pkg, CURRENT.name)
    t.equal(b.version, CURRENT.version)
    t.equal(uwsStartupLine(b), undefined, 'no fallback line when the current build runs')
  } else {
    t.ok(b.legacy, `glibc ${String(glibc)}, ABI ${process.versions.modules}: the legacy build runs`)
    t.equal(b.pkg, LEGACY.name)
    t.equal(b.version, LEGACY.version)
    if (!glibcOk) t.match(b.reason, /GLIBC_2\.38/, 'the reason names the missing glibc')
    const line = uwsStartupLine(b)!
    t.match(line, LEGACY.name)
    t.match(line, /production belongs on the Weir image or a newer host/)
    t.notMatch(line, /\n/, 'one line')
  }
})

t.test('weir version prints Node, the uWS build and glibc', async (t) => {
  const r = spawnSync(process.execPath, [WEIR, 'version'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.equal(lines[0], `weir ${pkg.version}`)
  t.equal(lines[1], `node ${process.version} (ABI ${process.versions.modules}, ${process.platform}-${process.arch})`)
  t.equal(lines[2], `glibc ${glibc ?? 'none'}`)
  t.equal(lines[3], `uWebSockets.js ${describeUws(loadUws())}`)
  t.match(lines[3], currentShould ? `${CURRENT.name} ${CURRENT.version} (current build)` : `${LEGACY.name} ${LEGACY.version} (legacy Node 20 build)`)
  if (!currentShould) t.match(r.stdout, /production belongs on the Weir image/)
  const extra = spawnSync(process.execPath, [WEIR, 'version', 'x'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(extra.status, 64, 'no arguments taken')
})

t.test('the JavaScript shim is refused (UWS_USE_FALLBACK)', async (t) => {
  const r = spawnSync(process.execPath, [WEIR, 'version'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, UWS_USE_FALLBACK: '1' } })
  t.equal(r.status, 1)
  t.match(r.stdout, /uWebSockets\.js none: UWS_USE_FALLBACK is set/)
})

/** Send raw bytes, collect the whole answer (the server closes or the timeout ends it). */
async function raw (port: number, text: string, ms = 5000): Promise<string> {
  return await new Promise((done) => {
    const s = connect(port, '127.0.0.1')
    let out = ''
    const finish = (): void => { s.destroy(); done(out) }
    const timer = setTimeout(finish, ms)
    s.on('data', (d: Buffer) => { out += d.toString('latin1'); if (/\r\n\r\nok$/.test(out)) { clearTimeout(timer); finish() } })
    s.on('error', () => { clearTimeout(timer); finish() })
    s.on('close', () => { clearTimeout(timer); finish() })
    s.write(text)
  })
}

t.test('a gateway boots on this build: one fallback line at most; HTTP/1.0 and 60 headers on the current build', async (t) => {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => { setLogSink(undefined) })
  const { url } = await startTestGateway(t, { workers: 1 })
  const fallback = lines.filter((l) => l.includes('uWebSockets.js: running the legacy'))
  t.equal(fallback.length, currentShould ? 0 : 1, currentShould ? 'no fallback line' : 'exactly one fallback line')
  const port = Number(new URL(url).port)
  const http11 = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(http11, /^HTTP\/1\.1 200/, 'HTTP/1.1 baseline')
  if (loadUws().legacy) {
    t.comment('HTTP/1.0 and >48 headers: the legacy build does not answer them; checked where the current build runs (Debian 13 root, image)')
    return
  }
  // uWS 20.57 answers HTTP/1.0 with an explicit 505 (the old build dropped the connection
  // silently): a client gets a status line it can act on instead of a hang or a reset.
  const http10 = await raw(port, 'GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n')
  t.match(http10, /^HTTP\/1\.[01] (200 |505 HTTP Version Not Supported)/, 'HTTP/1.0 request answered with a status line')
  let many = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
  for (let i = 0; i < 60; i++) many += `x-extra-${i}: v${i}\r\n`
  const sixty = await raw(port, many + '\r\n')
  t.match(sixty, /^HTTP\/1\.1 200/, '60-header request answered')
})
