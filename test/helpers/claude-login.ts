/**
 * Sign the real Claude Code CLI in to a Weir gateway with `/login`, exactly as on a developer
 * machine: machine-level managed settings name the gateway, the CLI runs the device flow and
 * polls, the browser part (verification link, code confirmation, IdP round trip) is done here,
 * the CLI shows the approving account and stores the credential.
 *
 * The CLI only honours a gateway named by machine-level managed settings (/etc/claude-code), so
 * it runs in a private mount namespace with its own /etc/claude-code bind-mounted, under
 * `script` for a terminal. `loginUnavailable()` says why that is impossible here (not root, no
 * unshare, no binary), so tests can skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { approve, type DeviceAuthorization } from '../auth/helpers/flow.js'
import { CLAUDE_BIN } from './claude-cli.js'

const ETC = '/etc/claude-code'

export function loginUnavailable (): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync(CLAUDE_BIN)) return 'the Claude Code linux-x64 binary is not installed'
  if (process.getuid?.() !== 0) return 'needs root for a private mount namespace'
  for (const bin of ['unshare', 'script', 'mount']) if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not available`
  if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'unshare -m is not permitted here'
  return null
}

const strip = (s: string): string => s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\r/g, '') // eslint-disable-line no-control-regex
const squash = (s: string): string => s.replace(/\s+/g, '')

export interface SignedInCli {
  /** What the CLI showed for confirmation, the user code, and whether it reported success. */
  readonly code: string | undefined
  readonly browserStatus: number | undefined
  readonly confirmedEmail: string | undefined
  readonly connected: boolean
  readonly screenTail: string
  /** The session token the CLI stored (when connected). */
  readonly jwt: string | undefined
  /** Run another CLI command in the same namespace, home and config; resolves with its exit code and output. */
  run (cmd: string, timeoutMs?: number): Promise<{ code: number | null, out: string }>
}

/** Drive `/login` against `gatewayUrl`; the gateway's IdP must auto-approve (lib/dev/idp.ts). */
export async function loginWithCli (t: Test, gatewayUrl: string): Promise<SignedInCli> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-cli-login-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const etc = join(dir, 'etc')
  const home = join(dir, 'home')
  mkdirSync(etc)
  mkdirSync(home)
  writeFileSync(join(etc, 'managed-settings.json'), JSON.stringify({ forceLoginMethod: 'gateway', forceLoginGatewayUrl: gatewayUrl }))
  // The bind mount needs a mount point; an empty directory changes nothing for other processes.
  const madeEtc = !existsSync(ETC)
  if (madeEtc) mkdirSync(ETC)
  t.teardown(() => { if (madeEtc) { try { rmdirSync(ETC) } catch { /* still a mount point elsewhere, or not empty */ } } })
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CLAUDE_CONFIG_DIR: join(home, '.claude'), TERM: 'xterm-256color', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', BROWSER: '/bin/true', ETC_DIR: etc, CLAUDE_BIN }
  const inNamespace = (cmd: string): string[] => ['-m', 'sh', '-c', `mount --bind "$ETC_DIR" ${ETC} && cd "$HOME" && ${cmd}`]

  const cli: ChildProcess = spawn('unshare', inNamespace('exec script -qfec "$CLAUDE_BIN" /dev/null'), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  let screen = ''
  cli.stdout?.on('data', (d: Buffer) => { screen += strip(d.toString('utf8')) })
  cli.stderr?.on('data', (d: Buffer) => { screen += strip(d.toString('utf8')) })
  const stop = (): void => { try { process.kill(-(cli.pid as number), 'SIGKILL') } catch { /* gone */ } }
  t.teardown(stop)
  const key = (s: string): void => { if (cli.stdin?.writable === true) cli.stdin.write(s) }
  const pause = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

  let mark = 0
  let code: string | undefined
  let browser: Promise<number> | undefined
  let confirmedEmail: string | undefined
  let connected = false
  const deadline = Date.now() + 150_000
  let last = Date.now()
  while (!connected && Date.now() < deadline && cli.exitCode === null) {
    await pause(300)
    const fresh = squash(screen.slice(mark))
    if (fresh === '') { if (Date.now() - last > 3000 && code === undefined) { key('\r'); last = Date.now() } continue }
    if (fresh.includes('Yes,trustthisgateway')) { key('\x1b[A'); await pause(300); key('\r'); mark = screen.length; last = Date.now(); continue }
    const m = /Code:([BCDFGHJKMNPQRSTVWXYZ]{4}-[BCDFGHJKMNPQRSTVWXYZ]{4})/.exec(fresh)
    if (m !== null && code === undefined) {
      code = m[1] as string
      const da = { user_code: code, verification_uri_complete: `${gatewayUrl}/device?user_code=${code}` } as DeviceAuthorization
      browser = approve(gatewayUrl, da).then((r) => r.page.status)
      mark = screen.length
      continue
    }
    const who = /SignedintoCloudgatewayas([^\s]+?@[A-Za-z0-9.-]+?\.(?:com|example))/.exec(fresh)
    if (who !== null && confirmedEmail === undefined) { confirmedEmail = who[1]; key('\x1b[A'); await pause(300); key('\r'); mark = screen.length; continue }
    if (fresh.includes('ConnectedtoCloudgateway')) { connected = true; break }
    if (code === undefined && Date.now() - last > 3000) { key('\r'); last = Date.now() }
  }
  stop()
  const browserStatus = await browser
  let jwt: string | undefined
  if (connected) {
    const creds = readFileSync(join(home, '.claude', '.credentials.json'), 'utf8')
    jwt = /"(eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+)"/.exec(creds)?.[1]
  }
  const run = async (cmd: string, timeoutMs = 90_000): Promise<{ code: number | null, out: string }> => await new Promise((resolve) => {
    const p = spawn('unshare', inNamespace(cmd), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => { p.kill('SIGKILL') }, timeoutMs)
    p.once('exit', (c) => { clearTimeout(timer); resolve({ code: c, out }) })
  })
  return { code, browserStatus, confirmedEmail, connected, screenTail: squash(screen).slice(-600), jwt, run }
}
