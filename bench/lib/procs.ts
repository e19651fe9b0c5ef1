/**
 * Child processes for benchmarks: spawn pinned to CPU cores (with `taskset` when present), wait
 * for a readiness line, read their resident memory, stop them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export const HAVE_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0

export interface Proc {
  readonly child: ChildProcess
  readonly name: string
  output (): string
  stop (): Promise<void>
}

/** Spawn `cmd args` on `cores` (e.g. "0" or "0-3"); resolves once a stdout/stderr line matches `ready`. */
export async function startProc (name: string, cmd: string, args: string[], o: { cores?: string, env?: NodeJS.ProcessEnv, ready: RegExp, timeoutMs?: number }): Promise<Proc> {
  const [file, argv] = o.cores !== undefined && HAVE_TASKSET ? ['taskset', ['-c', o.cores, cmd, ...args]] : [cmd, args]
  const child = spawn(file, argv, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const onData = (d: Buffer): void => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000) }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after ${o.timeoutMs ?? 60000} ms:\n${out.slice(-3000)}`)), o.timeoutMs ?? 60_000)
    const check = (): void => { if (o.ready.test(out)) { clearTimeout(timer); resolve() } }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}) before it was ready:\n${out.slice(-3000)}`)) })
  })
  return {
    child,
    name,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await gone
      clearTimeout(t)
    },
  }
}

/** Resident set size of a process in MiB (Linux), or NaN. */
export function rssMiB (pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

/** RSS of a process and all its descendants' threads live in the same process, so this is it. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

/** Core assignment: gateway cores first, the rest for the fake upstream and load generator. */
export function plan (cores: number, gatewayWorkers: number): { gateway: string, others: string } {
  if (cores <= 1) return { gateway: '0', others: '0' }
  const g = Math.min(gatewayWorkers, cores - 1)
  return { gateway: g === 1 ? '0' : `0-${g - 1}`, others: g === cores - 1 ? String(cores - 1) : `${g}-${cores - 1}` }
}
