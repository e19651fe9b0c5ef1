/**
 * Child processes for benchmarks: spawn pinned to CPU cores (with `taskset` when present), wait
 * for a readiness line, read their resident memory, stop them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { createServer } from 'node:net'

export const HAVE_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0

export interface Proc {
  readonly child: ChildProcess
  readonly name: string
  output (): string
  stop (): Promise<void>
}

/**
 * Spawn `cmd args` on `cores` (e.g. "0" or "0-3"); resolves once its output matches `ready`.
 * With `log`, stdout and stderr go straight to that file (a gateway's audit lines then cost it a
 * write to a file, as in production, and nothing in this process has to read them); otherwise
 * they are read through pipes.
 */
export async function startProc (name: string, cmd: string, args: string[], o: { cores?: string, env?: NodeJS.ProcessEnv, ready: RegExp, timeoutMs?: number, log?: string }): Promise<Proc> {
  const [file, argv] = o.cores !== undefined && HAVE_TASKSET ? ['taskset', ['-c', o.cores, cmd, ...args]] : [cmd, args]
  const fd = o.log !== undefined ? openSync(o.log, 'a') : null
  const child = spawn(file, argv, { env: o.env ?? process.env, stdio: fd !== null ? ['ignore', fd, fd] : ['ignore', 'pipe', 'pipe'] })
  if (fd !== null) closeSync(fd)
  let out = ''
  const onData = (d: Buffer): void => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000) }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const output = (): string => o.log !== undefined ? tail(o.log) : out
  await new Promise<void>((resolve, reject) => {
    const limit = o.timeoutMs ?? 60_000
    const timer = setTimeout(() => { clearInterval(poll); reject(new Error(`${name} not ready after ${limit} ms:\n${output().slice(-3000)}`)) }, limit)
    const check = (): void => { if (o.ready.test(output())) { clearTimeout(timer); clearInterval(poll); resolve() } }
    const poll = setInterval(check, o.log !== undefined ? 50 : 1_000_000)
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); clearInterval(poll); reject(new Error(`${name} exited (${code}) before it was ready:\n${output().slice(-3000)}`)) })
  })
  return {
    child,
    name,
    output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await gone
      clearTimeout(t)
    },
  }
}

/** The last 64 KiB of a file as text ('' when unreadable). */
function tail (path: string): string {
  try {
    const size = statSync(path).size
    const fd = openSync(path, 'r')
    const buf = Buffer.alloc(Math.min(size, 65_536))
    readSync(fd, buf, 0, buf.length, size - buf.length)
    closeSync(fd)
    return buf.toString('utf8')
  } catch { return '' }
}

/** Resident set size of a process in MiB (Linux), or NaN. */
export function rssMiB (pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

/** A free TCP port on loopback. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

/**
 * Core assignment: gateway cores first, the rest for the fake upstream and load generator. When
 * the gateway wants every core but one or more (N workers on a small machine), everything shares
 * all cores (`shared` is then true).
 */
export function plan (cores: number, gatewayWorkers: number): { gateway: string, others: string, shared: boolean } {
  const all = cores <= 1 ? '0' : `0-${cores - 1}`
  if (cores <= 1 || gatewayWorkers >= cores) return { gateway: all, others: all, shared: true }
  const g = gatewayWorkers
  return { gateway: g === 1 ? '0' : `0-${g - 1}`, others: g === cores - 1 ? String(cores - 1) : `${g}-${cores - 1}`, shared: false }
}

/** Pin this process (every thread) to `cores`, so the orchestrator stays off the gateway's cores. */
export function pinSelf (cores: string): void {
  if (HAVE_TASKSET) spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { stdio: 'ignore' })
}
