/**
 * The two log streams, both on stderr, from every thread.
 *
 * - `audit(event, fields)`: one JSON object per line, always on: `{"ts","evt",...fields}`. These are
 *   the events operators ship to their SIEM; names are a closed union.
 * - `ops.debug|info|warn|error(msg)`: `[gateway] <ISO time> <level> <msg>` lines gated by
 *   `CLAUDE_GATEWAY_LOG_LEVEL` (debug|info|warn|error, default info). A disabled level is a no-op
 *   function, so call sites need no level checks.
 *
 * Lines are written with `fs.writeSync(2, …)` rather than `process.stderr`: inside a worker thread
 * `process.stderr` is relayed through the main thread's event loop, which would reorder lines and
 * add latency. The lines of one event-loop turn are gathered and written together at the end of
 * it (`setImmediate`), in writes of at most PIPE_BUF (4096 bytes) that each hold whole lines, so
 * lines from different threads never interleave and a busy worker makes one write per turn instead
 * of one per request. What is gathered is also written when the thread exits (`process.exit`,
 * a crash handled by the worker's crash hook); only a kill of the whole process can lose it — at
 * most one turn's lines. EAGAIN on a non-blocking pipe is retried briefly.
 */
import { writeSync } from 'node:fs'
import { runtimeEnv } from './runtime-env.js'

export type AuditEvent =
  | 'config.load'
  | 'config.reload'
  | 'access.denied'
  | 'device.authorize'
  | 'device.verify'
  | 'device.callback'
  | 'session.mint'
  | 'session.refresh'
  | 'session.revoke'
  | 'auth.denied'
  | 'managed.serve'
  | 'desktop_bootstrap.serve'
  | 'desktop_bootstrap.denied'
  | 'inference'
  | 'spend.blocked'
  | 'policy.blocked'
  | 'policy.skipped'
  | 'spend.threshold'
  | 'admin.denied'
  | 'admin.limit.upsert'
  | 'admin.limit.delete'
  | 'admin.sign_out'
  | 'console.sign_in'
  | 'console.sign_out'
  | 'console.denied'
  | 'telemetry.dropped'
  | 'worker.exit'

export type Level = 'debug' | 'info' | 'warn' | 'error'
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }
const PIPE_BUF = 4096

/** Test hook: when set, lines go here instead of fd 2. */
let sink: ((line: string) => void) | undefined

export function setLogSink (fn: ((line: string) => void) | undefined): void { sink = fn }

function writeLine (line: string): void {
  if (sink !== undefined) { sink(line); return }
  const n = Buffer.byteLength(line)
  if (gatheredBytes + n > PIPE_BUF) flushLines()
  gathered += line
  gatheredBytes += n
  if (!scheduled) {
    scheduled = true
    setImmediate(flushLines).unref()
  }
}

/** Lines of this event-loop turn not written yet (whole lines, at most PIPE_BUF bytes unless one line is longer). */
let gathered = ''
let gatheredBytes = 0
let scheduled = false

/** Write the gathered lines now (end of the turn, a full batch, or thread exit). */
export function flushLines (): void {
  scheduled = false
  if (gathered === '') return
  const buf = Buffer.from(gathered, 'utf8')
  gathered = ''
  gatheredBytes = 0
  let off = 0
  let spins = 0
  while (off < buf.length) {
    try {
      off += writeSync(2, buf, off, buf.length - off)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && spins++ < 1000) continue
      return // stderr is gone; logging must never take the gateway down
    }
  }
}

process.on('exit', flushLines)

/**
 * Emit one audit event. Values that are `undefined` are dropped; strings are truncated so the line fits in PIPE_BUF.
 * The fields object is serialised as it is (JSON.stringify drops undefined values itself) and spliced
 * in after `ts` and `evt`, so the hot path pays for one stringify and no copy.
 */
export function audit (evt: AuditEvent, fields: Record<string, unknown> = {}): void {
  const ts = isoNow()
  let line: string
  if ('ts' in fields || 'evt' in fields) {
    line = JSON.stringify({ ts, evt, ...defined(fields) })
  } else {
    const rest = JSON.stringify(fields)
    line = `{"ts":"${ts}","evt":"${evt}"${rest.length > 2 ? ',' : ''}${rest.slice(1)}`
  }
  if (line.length >= PIPE_BUF) line = fitted({ ts, evt, ...defined(fields) }, ts, evt)
  writeLine(line + '\n')
}

/** The `ts` of an audit line written now (the first field of an `auditRecord` record). */
export function auditTime (): string { return isoNow() }

/**
 * Emit one audit event from a record whose first two keys are `ts` (`auditTime()`) and `evt`:
 * serialised as it is, no splice and no copy (the hot path's `inference` line). The line is the
 * one `audit(evt, rest)` writes for the same fields.
 */
export function auditRecord (rec: { ts: string, evt: AuditEvent, [k: string]: unknown }): void {
  let line = JSON.stringify(rec)
  if (line.length >= PIPE_BUF) line = fitted({ ...defined(rec) }, rec.ts, rec.evt)
  writeLine(line + '\n')
}

/** A line over PIPE_BUF: long strings cut to 256 characters, else only `ts`, `evt` and `truncated`. */
function fitted (rec: Record<string, unknown>, ts: string, evt: AuditEvent): string {
  for (const k in rec) {
    const v = rec[k]
    if (typeof v === 'string' && v.length > 256) rec[k] = v.slice(0, 256) + '…'
  }
  const line = JSON.stringify(rec)
  return line.length < PIPE_BUF ? line : JSON.stringify({ ts, evt, truncated: true })
}

function defined (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k in fields) if (fields[k] !== undefined) out[k] = fields[k]
  return out
}

let isoSecond = -1
let isoPrefix = ''
/** `new Date().toISOString()`, formatting the date and time once per second. */
function isoNow (): string {
  const now = Date.now()
  const ms = now % 1000
  const sec = now - ms
  if (sec !== isoSecond) { isoSecond = sec; isoPrefix = new Date(sec).toISOString().slice(0, 20) }
  return isoPrefix + (ms < 10 ? '00' : ms < 100 ? '0' : '') + String(ms) + 'Z'
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g
const escapeControl = (s: string): string => s.replace(CONTROL, (c) => {
  switch (c) {
    case '\n': return '\\n'
    case '\r': return '\\r'
    case '\t': return '\\t'
    default: return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  }
})

function opsLine (level: Level, msg: string): void {
  let text = escapeControl(msg)
  if (text.length > PIPE_BUF - 64) text = text.slice(0, PIPE_BUF - 64) + '…'
  writeLine(`[gateway] ${isoNow()} ${level} ${text}\n`)
}

const noop = (_msg: string): void => {}

/** Operational log. Methods for disabled levels are no-ops. */
export const ops = {
  debug: noop as (msg: string) => void,
  info: noop as (msg: string) => void,
  warn: noop as (msg: string) => void,
  error: noop as (msg: string) => void,
}

/** Set the threshold. Unknown values fall back to `info`. */
export function setLogLevel (level: string | undefined): Level {
  const lv: Level = level !== undefined && level in RANK ? level as Level : 'info'
  for (const l of Object.keys(RANK) as Level[]) {
    ops[l] = RANK[l] >= RANK[lv] ? (msg: string) => opsLine(l, msg) : noop
  }
  return lv
}

setLogLevel(runtimeEnv().logLevel)

/** Short description of an unknown thrown value for the ops log. */
export function describeError (err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}
