/**
 * A second gateway replica in its own process (`weir serve`), sharing a test gateway's database
 * and identity provider, as a second pod behind a load balancer would.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { ROOT } from '../../../lib/version.js'

const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

/** Start `weir serve` with `config` (an object as test/helpers/gateway.ts builds) on a free port. */
export async function startReplica (t: Test, config: Record<string, any>, opts: { workers?: number } = {}): Promise<{ url: string, stderr: () => string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'weir-replica-'))
  const path = join(dir, 'gateway.yaml')
  writeFileSync(path, stringify({ ...config, listen: { ...config.listen, port } }))
  const child = spawn(process.execPath, [WEIR, 'serve', '--config', path, '--workers', String(opts.workers ?? 1)], {
    env: { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS: '1000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => { stderr += d })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start: ${stderr}`)), 60_000)
    const check = (): void => { if (stderr.includes('weir listening on')) { clearTimeout(timer); resolve() } }
    child.stderr.on('data', check)
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`replica exited ${c}: ${stderr}`)) })
    check()
  })
  return { url: `http://127.0.0.1:${port}`, stderr: () => stderr }
}
