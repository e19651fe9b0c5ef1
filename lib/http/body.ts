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
 *     connection closed.
 *   - The caller authenticates from the headers before calling `readBody`; every answer sent while
 *     the body is still unread closes the connection (respond.ts, via `rq.bodyOpen`), so a
 *     refused client cannot make the gateway read on.
 *
 * `readBody` must be called synchronously from the route handler (uWS requires `onData` to be
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

/**
 * Read the whole body. Rejects with the framing error (before reading), 529 when the worker is
 * over its in-flight cap, 408 when the client is too slow, or 400 when the client sends more or
 * fewer bytes than it declared; never settles if the client aborts (the abort handler finishes
 * the request instead, and the in-flight bytes are released).
 */
export function readBody (res: HttpResponse, rq: Req, maxBytes: number): Promise<Buffer> {
  let len: number
  try {
    len = declaredLength(rq, maxBytes)
  } catch (err) {
    res.onData(() => {})
    return Promise.reject(err)
  }
  if (len === 0) {
    res.onData(() => {})
    rq.bodyOpen = false
    return Promise.resolve(EMPTY)
  }
  if (inflight > 0 && inflight + len > knobs.inflightBytes) {
    res.onData(() => {})
    return Promise.reject(new GatewayError('GW_OVERLOADED', undefined, { headers: { 'retry-after': '1' }, detail: `body of ${len} bytes refused: ${inflight} bytes in flight on this worker (WEIR_BODY_INFLIGHT_BYTES=${knobs.inflightBytes})` }))
  }
  inflight += len
  const t0 = performance.now()
  const { graceMs, minRate } = knobs
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let got = 0
    let over = false
    let timer: NodeJS.Timeout | null = null
    const release = (): void => {
      if (over) return
      over = true
      inflight -= len
      if (timer !== null) { clearTimeout(timer); timer = null }
    }
    const fail = (err: GatewayError): void => { release(); reject(err) }
    // The deadline: by `t0 + graceMs + got / minRate` at least `got` bytes must be here. Re-armed
    // for the moment the bytes received so far stop covering it.
    const arm = (): void => {
      const due = t0 + graceMs + got * 1000 / minRate
      timer = setTimeout(check, Math.max(10, due - performance.now()))
    }
    const check = (): void => {
      timer = null
      if (over) return
      if (rq.aborted) { release(); return }
      const elapsed = performance.now() - t0
      if (got < minRate * (elapsed - graceMs) / 1000) {
        fail(new GatewayError('GW_BODY_TIMEOUT', undefined, { detail: `${got} of ${len} body bytes in ${Math.round(elapsed)} ms (minimum ${minRate} bytes/s after ${graceMs} ms)` }))
        return
      }
      arm()
    }
    arm()
    rq.onBodyDone = release
    res.onData((ab, isLast) => {
      if (over) return
      const n = ab.byteLength
      if (got + n > len) { fail(new GatewayError('GW_BAD_REQUEST', 'request body is longer than its Content-Length')); return }
      if (n > 0) { chunks.push(Buffer.from(ab.slice(0))); got += n }
      if (isLast) {
        if (got !== len) { fail(new GatewayError('GW_BAD_REQUEST', 'request body is shorter than its Content-Length')); return }
        release()
        rq.bodyOpen = false
        resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, got))
      }
    })
  })
}
