/**
 * Reading a request body from uWebSockets.js without letting a client spend the gateway's memory.
 *
 * Invariants:
 *   - Framing is checked before a byte is read: 411 when a body is announced without a length
 *     (chunked), 413 when the declared length is over the route's cap, 400 for a malformed length.
 *   - Nothing is allocated from the declared length. Each chunk uWS hands over is copied into a
 *     buffer the gateway owns (uWS's ArrayBuffers are only valid during the callback) and the
 *     chunks are joined once at the end, so memory grows only as bytes really arrive.
 *   - A worker holds at most `inflightBytes` of declared body at once: a request whose length
 *     would take the worker over that, while other bodies are being read, is refused with 529
 *     `overloaded_error` before a byte of it is buffered. A lone request is always admitted (the
 *     route's own cap bounds it), so the cap can never make a legal request impossible.
 *   - Every body read has a deadline: after `graceMs` the client must have sent at least
 *     `minRate` bytes per second since that point; a slower upload is answered 408 and its
 *     connection closed. One shared timer checks the reads in progress every `SWEEP_MS`, so the
 *     408 comes at most that much after the deadline passed.
 *   - The caller authenticates from the headers before calling `readBody`; every answer sent while
 *     the body is still unread closes the connection (respond.ts, via `rq.bodyOpen`), so a
 *     refused client cannot make the gateway read on.
 *
 * `readBody`/`readBodyTo` must be called synchronously from the route handler (uWS requires `onData` to be
 * attached before the handler returns).
 */
import type { HttpResponse } from 'uWebSockets.js'
import { BootError, GatewayError } from '../errors.js'
import type { Req } from './request.js'

/** Per-worker body limits, from the environment (`bodyKnobs`). */
export interface BodyKnobs {
  /** Milliseconds a body may take before the minimum rate applies (`WEIR_BODY_GRACE_MS`). */
  readonly graceMs: number
  /** Bytes per second a body must average after the grace period (`WEIR_BODY_MIN_RATE`). */
  readonly minRate: number
  /** Declared body bytes one worker reads at once (`WEIR_BODY_INFLIGHT_BYTES`). */
  readonly inflightBytes: number
}

export const DEFAULT_BODY_KNOBS: BodyKnobs = { graceMs: 10_000, minRate: 32 * 1024, inflightBytes: 256 * 1024 * 1024 }

const KNOB_ENV: ReadonlyArray<[keyof BodyKnobs, string]> = [
  ['graceMs', 'WEIR_BODY_GRACE_MS'],
  ['minRate', 'WEIR_BODY_MIN_RATE'],
  ['inflightBytes', 'WEIR_BODY_INFLIGHT_BYTES'],
]

/** Read the knobs from `env`; an unset or empty variable keeps its default. Throws a BootError for a bad value. */
export function bodyKnobs (env: NodeJS.ProcessEnv): BodyKnobs {
  const out: Record<string, number> = { ...DEFAULT_BODY_KNOBS }
  const bad: string[] = []
  for (const [key, name] of KNOB_ENV) {
    const v = env[name]
    if (v === undefined || v === '') continue
    if (!/^\d{1,15}$/.test(v) || Number(v) < 1) bad.push(`${name} must be a positive integer (got ${JSON.stringify(v.slice(0, 40))})`)
    else out[key] = Number(v)
  }
  if (bad.length > 0) throw new BootError(bad, 78)
  return out as unknown as BodyKnobs
}

let knobs: BodyKnobs = DEFAULT_BODY_KNOBS
let inflight = 0

/** Set this worker's knobs (once, at worker start). */
export function configureBodies (k: BodyKnobs): void { knobs = k }

/** Declared body bytes this worker is reading now (for tests and metrics). */
export function bodiesInFlight (): number { return inflight }

/** Validate framing headers. Returns the declared length, or throws the 411/413/400 error. */
export function declaredLength (rq: Req, maxBytes: number): number {
  const cl = rq.headers['content-length']
  if (cl === undefined) {
    if (rq.headers['transfer-encoding'] !== undefined) throw new GatewayError('GW_LENGTH_REQUIRED')
    return 0
  }
  if (!/^\d{1,15}$/.test(cl)) throw new GatewayError('GW_BAD_REQUEST', 'invalid Content-Length header')
  const n = Number(cl)
  if (n > maxBytes) {
    throw new GatewayError('GW_BODY_TOO_LARGE', `request body of ${n} bytes is over this gateway's limit of ${maxBytes} bytes`)
  }
  return n
}

const EMPTY = Buffer.alloc(0)

/** How often the reads in progress are checked against their deadline (the deadline's resolution). */
const SWEEP_MS = 100

/**
 * One body being read. Reads in progress form an intrusive list walked by one shared timer
 * (`sweep`), instead of a timer (and a timer list) per request: a body that arrives with its
 * headers — the common case — costs no timer at all.
 */
class BodyRead<T> {
  prev: BodyRead<unknown> | null = null
  next: BodyRead<unknown> | null = null
  /** The chunks so far, once a second one arrives (the first is kept in `first` until then). */
  private chunks: Buffer[] | null = null
  private first: Buffer | null = null
  got = 0
  over = false
  readonly t0 = performance.now()

  constructor (readonly rq: Req, readonly len: number, readonly ctx: T, readonly ok: (ctx: T, body: Buffer) => void, readonly bad: (ctx: T, err: unknown) => void) {}

  /** Give back the in-flight budget and leave the sweep (idempotent). */
  release (): void {
    if (this.over) return
    this.over = true
    inflight -= this.len
    untrack(this as BodyRead<unknown>)
  }

  private fail (err: GatewayError): void { this.release(); this.bad(this.ctx, err) }

  data (ab: ArrayBuffer, isLast: boolean): void {
    if (this.over) return
    const n = ab.byteLength
    const got = this.got
    if (got + n > this.len) { this.fail(new GatewayError('GW_BAD_REQUEST', 'request body is longer than its Content-Length')); return }
    if (n > 0) {
      // uWS's ArrayBuffer is only valid during this callback: copy it.
      const b = Buffer.from(ab.slice(0))
      if (this.first === null) this.first = b
      else (this.chunks ??= [this.first]).push(b)
      this.got = got + n
    }
    if (!isLast) return
    if (this.got !== this.len) { this.fail(new GatewayError('GW_BAD_REQUEST', 'request body is shorter than its Content-Length')); return }
    this.release()
    this.rq.bodyOpen = false
    this.ok(this.ctx, this.chunks === null ? this.first ?? EMPTY : Buffer.concat(this.chunks, this.got))
  }

  /** The deadline: by `t0 + graceMs + got / minRate` at least `got` bytes must be here. */
  check (now: number): void {
    if (this.rq.aborted) { this.release(); return }
    const elapsed = now - this.t0
    const { graceMs, minRate } = knobs
    if (this.got < minRate * (elapsed - graceMs) / 1000) {
      this.fail(new GatewayError('GW_BODY_TIMEOUT', undefined, { detail: `${this.got} of ${this.len} body bytes in ${Math.round(elapsed)} ms (minimum ${minRate} bytes/s after ${graceMs} ms)` }))
    }
  }
}

let reads: BodyRead<unknown> | null = null
let sweeper: NodeJS.Timeout | null = null
let sweeping = false

function track (r: BodyRead<unknown>): void {
  r.next = reads
  if (reads !== null) reads.prev = r
  reads = r
  if (!sweeping) {
    sweeping = true
    if (sweeper === null) sweeper = setTimeout(sweep, SWEEP_MS)
    else sweeper.refresh()
  }
}

function untrack (r: BodyRead<unknown>): void {
  if (r.prev !== null) r.prev.next = r.next
  else if (reads === r) reads = r.next
  if (r.next !== null) r.next.prev = r.prev
  r.prev = r.next = null
}

/** Check every read in progress against its deadline; runs every SWEEP_MS while there are any. */
function sweep (): void {
  const now = performance.now()
  for (let r = reads; r !== null;) {
    const next: BodyRead<unknown> | null = r.next
    r.check(now)
    r = next
  }
  if (reads !== null) (sweeper as NodeJS.Timeout).refresh()
  else sweeping = false
}

/**
 * Read the whole body and hand it to `ok(ctx, body)`, or `bad(ctx, err)` with the framing error
 * (before reading), 529 when the worker is over its in-flight cap, 408 when the client is too
 * slow, or 400 when the client sends more or fewer bytes than it declared. Neither is called if
 * the client aborts (the abort handler finishes the request instead, and the in-flight bytes are
 * released). Refusals decided from the headers, and an empty body, are delivered in a microtask
 * (after the caller has set up its abort handling); a body is delivered from uWS's data callback.
 * No promise, and no closure but uWS's data callback and the release hook: the hot path's reader.
 */
export function readBodyTo<T> (res: HttpResponse, rq: Req, maxBytes: number, ctx: T, ok: (ctx: T, body: Buffer) => void, bad: (ctx: T, err: unknown) => void): void {
  let len: number
  try {
    len = declaredLength(rq, maxBytes)
  } catch (err) {
    res.onData(() => {})
    queueMicrotask(() => { bad(ctx, err) })
    return
  }
  if (len === 0) {
    res.onData(() => {})
    rq.bodyOpen = false
    queueMicrotask(() => { ok(ctx, EMPTY) })
    return
  }
  if (inflight > 0 && inflight + len > knobs.inflightBytes) {
    res.onData(() => {})
    const err = new GatewayError('GW_OVERLOADED', undefined, { headers: { 'retry-after': '1' }, detail: `body of ${len} bytes refused: ${inflight} bytes in flight on this worker (WEIR_BODY_INFLIGHT_BYTES=${knobs.inflightBytes})` })
    queueMicrotask(() => { bad(ctx, err) })
    return
  }
  inflight += len
  const r = new BodyRead(rq, len, ctx, ok, bad)
  track(r as BodyRead<unknown>)
  rq.onBodyDone = () => { r.release() }
  res.onData((ab, isLast) => { r.data(ab, isLast) })
}

/**
 * Read the whole body (`readBodyTo` as a promise, for the routes off the hot path). Rejects with
 * the framing error (before reading), 529, 408 or 400 as above; never settles if the client aborts.
 */
export function readBody (res: HttpResponse, rq: Req, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    readBodyTo(res, rq, maxBytes, null, (_, body) => { resolve(body) }, (_, err) => { reject(err) })
  })
}
