/**
 * Run the real Claude Code CLI (the pinned `@anthropic-ai/claude-code` dev dependency, or the
 * previous pin installed under the npm alias `claude-code-<version>`) in gateway
 * mode against a Weir URL: `claude -p <prompt>` with a private HOME and config dir, stdin closed,
 * non-essential traffic off. Always asynchronous — the gateway under test usually lives in the
 * same process and must keep serving while the CLI runs.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ROOT } from '../../lib/version.js'

export const CLAUDE_BIN = resolve(ROOT, 'node_modules', '@anthropic-ai', 'claude-code-linux-x64', 'claude')
/** The version package.json pins for the current CLI. */
export const CLAUDE_VERSION = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@anthropic-ai/claude-code']!

/** The previous pin, kept so a change that breaks older clients is seen: [alias, version, binary]. */
export const CLAUDE_PREVIOUS = ((): { version: string, bin: string } => {
  const dev = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies
  const name = Object.keys(dev).find((k) => /^claude-code-\d/.test(k))!
  const version = /@(\d+\.\d+\.\d+)$/.exec(dev[name]!)![1]!
  return { version, bin: resolve(ROOT, 'node_modules', name, 'node_modules', '@anthropic-ai', 'claude-code-linux-x64', 'claude') }
})()

export function claudeAvailable (bin = CLAUDE_BIN): boolean {
  return process.platform === 'linux' && process.arch === 'x64' && existsSync(bin)
}

export interface ClaudeRun { status: number | null, stdout: string, stderr: string, home: string }

export async function runClaude (baseUrl: string, token: string, prompt: string, opts: { env?: Record<string, string>, args?: string[], timeoutMs?: number, bin?: string } = {}): Promise<ClaudeRun> {
  const home = mkdtempSync(join(tmpdir(), 'weir-claude-home-'))
  chmodSync(home, 0o755)
  return await new Promise((done) => {
    const child = spawn(opts.bin ?? CLAUDE_BIN, ['-p', prompt, ...(opts.args ?? [])], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        CLAUDE_CONFIG_DIR: join(home, '.claude'),
        CLAUDE_CODE_USE_GATEWAY: '1',
        ANTHROPIC_BASE_URL: baseUrl,
        ANTHROPIC_AUTH_TOKEN: token,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 90_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('exit', (status) => done({ status, stdout, stderr, home }))
  })
}
