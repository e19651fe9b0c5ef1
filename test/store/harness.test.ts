import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../lib/version.js'

const RUN = join(ROOT, 'dist', 'test', 'run.js')
const fixture = (name: string): string => join(ROOT, 'dist', 'test', 'store', 'fixtures', 'harness', `${name}.js`)

/**
 * A scratch tap project (a package.json and nothing else) for nested runs: tap keeps coverage data
 * under the project it runs in and clears it at start, so a nested run inside this package would
 * wipe the coverage the outer run has collected so far.
 */
const project = mkdtempSync(join(tmpdir(), 'weir-harness-project-'))
writeFileSync(join(project, 'package.json'), '{"private":true,"type":"module"}\n')
symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules')) // tap loads its plugins from the project
t.teardown(() => rmSync(project, { recursive: true, force: true }))

/** The environment without the variables this tap run set for itself. */
function cleanEnv (extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { WEIR_TEST_TAP_CWD: project }
  for (const [k, v] of Object.entries(process.env)) if (!/^(TAP|_TAPJS|NODE_OPTIONS$)/.test(k)) env[k] ??= v
  for (const [k, v] of Object.entries(extra)) { if (v === undefined) delete env[k]; else env[k] = v }
  return env
}

interface Run { code: number | null, stdout: string, stderr: string }

/** Run test/run.ts; `onStart` may return an interval that is cleared when the run ends. */
async function runHarness (args: string[], env: NodeJS.ProcessEnv, onStart?: (kill: (sig: NodeJS.Signals) => void) => NodeJS.Timeout): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [RUN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    let poll: NodeJS.Timeout | undefined
    c.on('close', (code) => { clearInterval(poll); resolve({ code, stdout, stderr }) })
    if (onStart !== undefined) poll = onStart((sig) => c.kill(sig))
  })
}

/** An empty directory the `postgres` user can enter (the runner may run Postgres as that user). */
function tempDir (t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'weir-harness-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const lastLine = (s: string): string => s.trimEnd().split('\n').at(-1) ?? ''

t.test('counts top-level points per file; a crashed file counts as one failure', async (t) => {
  const r = await runHarness([fixture('passing'), fixture('failing'), fixture('crashing'), '--disable-coverage'], cleanEnv({}))
  t.equal(lastLine(r.stdout), '4 passed, 2 failed', 'closing line')
  t.equal(r.code, 1, 'tap failed the run')
  t.match(r.stdout, /# Subtest: \S*fixtures\/harness\/passing\.js/, 'tap output passed through')
  t.notMatch(r.stderr, /# PostgreSQL/, 'DATABASE_URL given: no server started')
  t.match(r.stderr, /2 skipped or todo/)
})

t.test('without DATABASE_URL it starts Postgres for the tests; SIGINT stops everything and removes the files', async (t) => {
  const scratch = tempDir(t)
  const marker = join(tmpdir(), `weir-harness-marker-${process.pid}`)
  t.teardown(() => rmSync(marker, { force: true }))
  const env = cleanEnv({ DATABASE_URL: undefined, WEIR_TEST_PG_TMP: scratch, WEIR_TEST_PG_ROOT: undefined, WEIR_HARNESS_MARKER: marker })
  const started = Date.now()
  let sent = false
  const r = await runHarness([fixture('hangs'), '--disable-coverage'], env, (kill) => setInterval(() => {
    if (!sent && (existsSync(marker) || Date.now() - started > 60_000)) { sent = true; kill('SIGINT') }
  }, 50))
  t.equal(existsSync(marker) ? readFileSync(marker, 'utf8') : 'never started', 'db ok', 'the fixture ran and reached DATABASE_URL')
  t.match(r.stderr, /# PostgreSQL \((embedded|system)\) on port \d+/)
  t.equal(r.code, 130)
  t.same(readdirSync(scratch), [], 'server stopped and files removed')
  t.ok(Date.now() - started < 60_000, 'did not wait for the fixture to finish')
})
