/**
 * `npm test`: run the compiled test files under tap against a real PostgreSQL.
 *
 *   node dist/test/run.js                      every dist/test/**\/*.test.js
 *   node dist/test/run.js dist/test/store/     one folder (or files; other args go to tap)
 *   node dist/test/run.js FILE --disable-coverage
 *
 * With DATABASE_URL set, tests use that server (the role must be allowed to create databases).
 * Otherwise one server is started for the whole run (test/helpers/pg.ts) and its URL exported to
 * every test process; it is stopped and its files removed at the end, also on SIGINT/SIGTERM.
 * Environment:
 *   DATABASE_URL          use this server instead of starting one
 *   WEIR_TEST_PG_SOURCE   `embedded` or `system`: which binaries to start servers from
 *   WEIR_TEST_PG_TMP      where server files go (default /dev/shm when usable, else the temp dir)
 *   WEIR_TEST_PG_ROOT     set by this runner for test processes: their private servers go under
 *                         it, so any a crashed test leaves behind are stopped here too
 *   WEIR_TEST_TAP_CWD     folder tap runs in (the harness's own tests use a scratch project)
 *
 * tap prints raw TAP, which is passed through to stdout and parsed on the way. The closing line is
 * `N passed, N failed`, counting each file's top-level test points (each `t.test(...)` block or
 * top-level assertion); skipped and todo points count as neither. A file that fails without a
 * failing point of its own (a crash, a timeout, a bad exit code) counts as one failure. The exit
 * code is tap's, so a missed coverage floor fails a full run too (a run of named files reports its
 * coverage without the floors).
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { Parser, type Result } from 'tap-parser'
import { ROOT } from '../lib/version.js'
import { scratchParent, startPostgresServer, type PgServer } from './helpers/pg.js'

/** All compiled test files under `dir`, as absolute paths, sorted. */
function findTests (dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p)
    }
  }
  if (existsSync(dir)) walk(dir)
  return out.sort()
}

/** Counts for the closing line. */
interface Tally { passed: number, failed: number, skipped: number, files?: number }

/** Watch a TAP stream: the root's points are files, their children's points are the tests. */
function tally (parser: Parser): Tally {
  const total: Tally = { passed: 0, failed: 0, skipped: 0, files: 0 }
  let file: Tally | null = null
  parser.on('child', (child: Parser) => {
    const mine: Tally = { passed: 0, failed: 0, skipped: 0 }
    file = mine
    child.on('assert', (r: Result) => {
      if (r.skip !== false || r.todo !== false) mine.skipped++
      else if (r.ok) mine.passed++
      else mine.failed++
    })
  })
  parser.on('assert', (r: Result) => {
    const counts: Tally = file ?? { passed: 0, failed: 0, skipped: 0 }
    file = null
    total.files = (total.files ?? 0) + 1
    total.passed += counts.passed
    total.skipped += counts.skipped
    total.failed += counts.failed
    if (!r.ok && r.todo === false && r.skip === false && counts.failed === 0) total.failed++
  })
  return total
}

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  const paths = argv.filter((a) => !a.startsWith('-') && existsSync(a))
  const others = argv.filter((a) => !paths.includes(a))
  // tap treats the folder it runs in as the project (.taprc, .tap/ coverage data). The harness's
  // own tests point a nested run elsewhere so it cannot disturb the outer run's coverage.
  const tapCwd = process.env.WEIR_TEST_TAP_CWD ?? ROOT
  const files = (paths.length > 0
    ? paths.flatMap((p) => statSync(p).isDirectory() ? findTests(resolve(p)) : [resolve(p)])
    : findTests(join(ROOT, 'dist', 'test'))).map((f) => relative(tapCwd, f))
  if (files.length === 0) {
    console.error('no test files found (did `npm run build` run?)')
    return 1
  }

  const root = mkdtempSync(join(scratchParent(), 'weir-test-'))
  chmodSync(root, 0o755) // as root, Postgres runs as another user and must reach its folder
  let server: PgServer | undefined
  let child: ReturnType<typeof spawn> | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaning ??= (async () => {
      await server?.destroy().catch((err: unknown) => { console.error(`stopping Postgres: ${String(err)}`) })
      stopLeftovers(root)
      rmSync(root, { recursive: true, force: true })
    })()
    await cleaning
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    // tap runs in its own process group: signal all of it, test processes included, and make
    // sure nothing outlives the runner.
    const pid = child?.pid
    if (pid !== undefined) {
      try { process.kill(-pid, sig) } catch { /* already gone */ }
      setTimeout(() => { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }, 3000).unref()
    }
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // Last resort if the runner dies some other way: stop servers and delete files synchronously.
  process.once('exit', () => { stopLeftovers(root); rmSync(root, { recursive: true, force: true }) })
  // A closed stdout (`| head`) must not crash the runner before it cleans up; tap runs on.
  let stdoutOpen = true
  process.stdout.on('error', () => { stdoutOpen = false })

  try {
    const env: NodeJS.ProcessEnv = { ...process.env, WEIR_TEST_PG_ROOT: root }
    if (env.DATABASE_URL === undefined || env.DATABASE_URL === '') {
      const started = Date.now()
      server = await startPostgresServer(root)
      env.DATABASE_URL = server.url
      env.WEIR_TEST_PG_SOURCE ??= server.source
      console.error(`# PostgreSQL (${server.source}) on port ${server.port}, ready in ${Date.now() - started} ms`)
    }
    const tap = join(ROOT, 'node_modules', '.bin', 'tap')
    // The coverage floors (.taprc) are for the whole suite: a run of named files cannot meet them.
    const partial = paths.length > 0 && !others.some((a) => a.includes('coverage'))
    const args = [...others, ...(partial ? ['--allow-incomplete-coverage'] : []), '--reporter=tap', ...files]
    const parser = new Parser()
    const counts = tally(parser)
    const code = await new Promise<number>((resolvePromise, reject) => {
      const c = spawn(tap, args, { cwd: tapCwd, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
      child = c
      c.stdout.on('data', (chunk: Buffer) => { if (stdoutOpen) process.stdout.write(chunk); parser.write(chunk) })
      c.on('error', reject)
      c.on('close', (exit, signal) => { resolvePromise(exit ?? (signal !== null ? 1 : 0)) })
    })
    parser.end()
    // tap itself failed before reporting on any file (bad arguments, a broken install).
    if (code !== 0 && counts.files === 0) counts.failed++
    if (counts.skipped > 0) console.error(`# ${counts.skipped} skipped or todo`)
    if (stdoutOpen) process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed\n`)
    return code === 0 && counts.failed > 0 ? 1 : code
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    process.stdout.write('\n0 passed, 1 failed\n')
    return 1
  } finally {
    await cleanup()
  }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Whether `pid` is a Postgres server (so a stale pid file never gets another process killed). */
function isPostgres (pid: number): boolean {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres') } catch { return process.platform !== 'linux' }
}

/** Stop any server a test process left running under `root` (postmaster.pid holds its pid). */
function stopLeftovers (root: string): void {
  const visit = (d: string, depth: number): void => {
    let entries
    try { entries = readdirSync(d, { withFileTypes: true }) } catch { return }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isFile() && e.name === 'postmaster.pid') {
        const pid = Number(readFileSync(p, 'utf8').split('\n')[0])
        if (Number.isInteger(pid) && pid > 1 && isPostgres(pid)) {
          try { process.kill(pid, 'SIGQUIT') } catch { continue /* already gone */ }
          for (let i = 0; i < 50 && alive(pid); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
        }
      } else if (e.isDirectory() && depth < 3) visit(p, depth + 1)
    }
  }
  visit(root, 0)
}

process.exitCode = await main()
