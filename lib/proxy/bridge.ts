/**
 * The bridge: the only code on the hot path that touches the client's uWS response or the
 * upstream request's undici controller. Everything above it (attempts.ts, answer.ts) queues bytes
 * and asks for the upstream to be held or released; it never writes a socket itself.
 *
 * Invariants:
 *   - What one tick queues (status line and headers, chunks, the end) goes out in as few corked
 *     writes as uWS's cork buffer allows (lib/http/cork.ts): usually one send to the client where
 *     a callback-by-callback write would make three, and never more bytes in one cork than fit,
 *     since uWS drops a write that overflows the cork buffer of a socket that pushes back.
 *   - `res` is never touched once the client went away (`rq.aborted`) or after the end was written.
 *   - The upstream is paused only while a chunk arrived when the client's socket was full or a
 *     spend check was pending, and resumed only when neither holds: a slow reader never grows
 *     memory beyond the socket buffers and one read.
 *   - Pings go out from one shared per-worker ticker (no per-request timer), only at an SSE event
 *     boundary, only while the client keeps up, after `pingAfterMs()` of silence.
 *   - The upstream request is spoken to through undici's current handler interface
 *     (onRequestStart … onResponseError with a controller); `UpstreamLink` adapts it to `AttemptEvents`.
 */
import type { Dispatcher } from 'undici'
import type { HttpResponse } from 'uWebSockets.js'
import type { Req } from '../http/request.js'
import { CORK_ROOM, FRAMING, PIECE, endWhole, headBytes } from '../http/cork.js'
import { sendError, statusLine, writeBaseHeaders } from '../http/respond.js'
import { runtimeEnv } from '../runtime-env.js'

/** The part of a uWS response the bridge uses (tests pass a fake). */
export interface ClientResponse {
  cork (cb: () => void): unknown
  writeStatus (status: Buffer | string): unknown
  writeHeader (key: Buffer | string, value: Buffer | string): unknown
  write (chunk: Buffer | string): boolean
  end (body?: Buffer | string): unknown
  onWritable (handler: (offset: number) => boolean): unknown
  close (): unknown
}

/** Response headers as undici's current interface hands them: lower-case names, repeated ones as arrays. */
export type Headers = Record<string, string | string[] | undefined>

const NONE: Buffer[] = []
const PING = Buffer.from('event: ping\ndata: {"type": "ping"}\n\n')
/**
 * Silence before a ping, ms: `WEIR_SSE_PING_MS` (default 15 s), read once into the runtime config
 * (lib/runtime-env.ts; a worker runs with the primary's value). Read when used, not at module load.
 */
export const pingAfterMs = (): number => runtimeEnv().ssePingMs
/** How often the ticker looks for silent streams: a third of the ping interval, within 50 ms … 5 s. */
const tickMs = (after: number): number => Math.max(50, Math.min(5000, Math.floor(after / 3)))

/** Supplies headers decided only when the first body bytes are written (a capped stream's usage headers). */
export interface LateHead { lateHeaders (): Record<string, string> | null }

// ---- shared per-worker ping ticker -------------------------------------------------------------

let clock = Date.now()
const live = new Set<Output>()
let ticker: NodeJS.Timeout | null = null
function tick (): void {
  clock = Date.now()
  const after = pingAfterMs()
  for (const x of live) if (!x.paused && x.atBoundary && clock - x.lastWrite >= after) x.send(PING)
  if (live.size === 0 && ticker !== null) { clearInterval(ticker); ticker = null }
}

// ---- output: everything queued in one tick goes out in one corked write ----------------------

let dirty: Output[] = []
function flushAll (): void {
  const list = dirty
  dirty = []
  for (let i = 0; i < list.length; i++) (list[i] as Output).flush(false)
}

/** One client response and the upstream request feeding it. */
export class Output {
  status = 0
  bytesOut = 0
  /** The last byte queued ends an SSE event (or nothing was queued yet). */
  atBoundary = true
  lastWrite = clock
  /** The client's socket pushed back; the upstream is held with the next chunk. */
  paused = false
  ended = false
  /** Status line and headers are queued (name, value pairs) until this tick's flush. */
  private head: Array<string | Buffer> | null = null
  /** `head` waits for the first body bytes (or the end) and asks `late` for more headers then. */
  private late: LateHead | null = null
  private out: Buffer[] = []
  private queued = false
  /** undici's controller for the attempt in flight, or null between attempts. */
  private upstream: Dispatcher.DispatchController | null = null
  /** The upstream was paused and waits for `release`/the client's drain. */
  private held = false
  /** A spend check holds the upstream, whatever the client does. */
  private checking = false

  constructor (readonly res: ClientResponse, readonly rq: Req) {}

  // -- the client side --

  /** Queue the status line and headers (written at the end of this tick, or with the first bytes when `late` is given). */
  start (status: number, head: Array<string | Buffer>, late: LateHead | null): void {
    this.status = status
    this.head = head
    this.late = late
    this.rq.started = true
    this.lastWrite = clock
    this.schedule()
  }

  /** Queue bytes for the client; they are written with the rest of this tick's output. */
  send (chunk: Buffer): void {
    this.out.push(chunk)
    this.bytesOut += chunk.length
    this.lastWrite = clock
    this.atBoundary = chunk.length >= 2 && chunk[chunk.length - 1] === 0x0a && chunk[chunk.length - 2] === 0x0a
    this.schedule()
  }

  /** Write the end after what is queued, now. */
  end (): void {
    if (!this.ended) this.flush(true)
  }

  /** Send what is queued, then drop the connection (a non-SSE answer that broke mid-body). */
  close (): void {
    this.flush(false)
    if (!this.rq.aborted) this.res.cork(() => this.res.close())
  }

  /** A whole answer at once: status, relayed header pairs, body. */
  reply (status: number, headers: ReadonlyArray<string | Buffer>, body: Buffer): void {
    const res = this.res
    this.status = status
    res.cork(() => {
      res.writeStatus(statusLine(status))
      writeBaseHeaders(res as HttpResponse, this.rq)
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i] as string, headers[i + 1] as Buffer | string)
      endWhole(res as HttpResponse, body, false)
    })
    this.ended = true
    this.rq.started = true
  }

  /** An error rendered by the one renderer (an envelope, or a dropped connection once started). */
  error (err: unknown, opts?: { requestId?: boolean }): void {
    sendError(this.res as HttpResponse, this.rq, err, opts)
  }

  /** Ping this stream during silences (providers whose streams need it). */
  ping (): void {
    this.lastWrite = clock
    live.add(this)
    if (ticker === null) {
      ticker = setInterval(tick, tickMs(pingAfterMs()))
      ticker.unref()
    }
  }

  /** No more pings (the request is over). */
  unping (): void { live.delete(this) }

  private schedule (): void {
    if (this.queued) return
    this.queued = true
    if (dirty.push(this) === 1) queueMicrotask(flushAll)
  }

  /** Write what is queued (status line and headers, chunks; the end with `last`) inside one cork: one send. */
  flush (last: boolean): void {
    this.queued = false
    if (this.rq.aborted) { this.head = null; this.out = []; return }
    if (this.head === null && this.out.length === 0 && !last) return
    const head = this.head
    if (this.late !== null && head !== null) {
      // A capped stream's head goes out with its first bytes (or the end), with its usage headers.
      if (this.out.length === 0 && !last) return
      const extra = this.late.lateHeaders()
      this.late = null
      if (extra !== null) for (const k in extra) head.push(k, extra[k] as string)
    }
    const out = this.out
    this.head = null
    this.out = []
    this.wHead = head
    this.wOut = out
    this.wAt = 0
    this.wCut = 0
    this.wLast = last
    this.wOk = true
    // Each cork takes what fits uWS's cork buffer; a write that pushes back still keeps its bytes
    // in uWS, so all are written, then the upstream is held.
    do this.res.cork(this.corked)
    while ((this.wAt < out.length || (last && !this.ended)) && !this.rq.aborted)
    this.wHead = null
    this.wOut = NONE
    const ok = this.wOk
    if (!ok && !this.ended && !this.paused) {
      this.paused = true
      // A fresh handler each time (as the uWS builds expect of a re-armed onWritable).
      this.res.onWritable(() => this.drained())
    }
  }

  // -- one flush, cork by cork (state in fields: no closure per cork) --
  private wHead: Array<string | Buffer> | null = null
  private wOut: Buffer[] = NONE
  /** Next chunk of `wOut` to write, and how much of it went out already (a split chunk). */
  private wAt = 0
  private wCut = 0
  private wLast = false
  private wOk = true

  /** One corked callback: the head (first time), then chunks while they fit `CORK_ROOM`, then the end. */
  private readonly corked = (): void => {
    const res = this.res
    let room = CORK_ROOM
    const head = this.wHead
    if (head !== null) {
      this.wHead = null
      res.writeStatus(statusLine(this.status))
      writeBaseHeaders(res as HttpResponse, this.rq)
      for (let i = 0; i < head.length; i += 2) res.writeHeader(head[i] as string, head[i + 1] as Buffer | string)
      room -= headBytes(head)
    }
    const out = this.wOut
    while (this.wAt < out.length) {
      const c = out[this.wAt] as Buffer
      const left = c.length - this.wCut
      if (left + FRAMING <= room) {
        if (!res.write(this.wCut === 0 ? c : c.subarray(this.wCut))) this.wOk = false
        room -= left + FRAMING
        this.wAt++
        this.wCut = 0
        continue
      }
      // Too long for what is left: a piece that fills this cork when the cork is fresh, else wait.
      // Past this check `n` > 0: `left` > 0 (an empty chunk fits whenever `room` ≥ FRAMING) and
      // `room` − FRAMING is PIECE (a fresh cork) or at least PIECE / 4.
      if (room < CORK_ROOM && room - FRAMING < PIECE / 4) return
      const n = Math.min(left, room - FRAMING, PIECE)
      if (!res.write(c.subarray(this.wCut, this.wCut + n))) this.wOk = false
      this.wCut += n
      return
    }
    if (this.wLast && room >= FRAMING) { this.ended = true; res.end() }
  }

  private drained (): boolean {
    this.paused = false
    if (this.held && !this.checking) this.resume()
    return true
  }

  // -- the upstream side --

  /** An attempt's request started: its controller aborts, pauses and resumes it. */
  attach (c: Dispatcher.DispatchController): void {
    this.upstream = c
    this.held = false
  }

  /** The attempt in flight is over (answered to the end, or failed). */
  detach (): void {
    this.upstream = null
    this.held = false
  }

  /** Abort the attempt in flight, if any (a client abort, a cut stream). */
  abort (reason: Error): boolean {
    const c = this.upstream
    this.upstream = null
    if (c === null) return false
    c.abort(reason)
    return true
  }

  /** After a chunk was taken: hold the upstream when the client pushed back. */
  pace (): void {
    if (this.paused) this.hold()
  }

  /** Hold the upstream while spend control decides (`release` ends it). */
  check (): void {
    this.checking = true
    this.hold()
  }

  /** Spend control answered: resume the upstream unless the client is still full. */
  release (): void {
    this.checking = false
    if (!this.paused && this.held) this.resume()
  }

  private hold (): void {
    this.held = true
    this.upstream?.pause()
  }

  private resume (): void {
    this.held = false
    const c = this.upstream
    if (c !== null && !this.rq.aborted && !this.rq.done) c.resume()
  }
}

/** What one attempt does with the upstream's answer (attempts.ts). */
export interface AttemptEvents {
  /** The request left; return false to abort it at once (the client already went away). */
  started (c: Dispatcher.DispatchController): boolean
  headers (status: number, headers: Headers): void
  data (chunk: Buffer): void
  complete (): void
  failed (err: Error): void
}

/** undici's current handler interface for one attempt, adapted to `AttemptEvents`. */
export class UpstreamLink implements Dispatcher.DispatchHandler {
  constructor (private readonly a: AttemptEvents) {}
  onRequestStart (c: Dispatcher.DispatchController): void {
    if (!this.a.started(c)) c.abort(new Error('client closed the connection'))
  }

  onResponseStart (c: Dispatcher.DispatchController, status: number, headers: Headers): void {
    this.a.headers(status, headers)
  }

  onResponseData (c: Dispatcher.DispatchController, chunk: Buffer): void { this.a.data(chunk) }
  onResponseEnd (): void { this.a.complete() }
  onResponseError (c: Dispatcher.DispatchController, err: Error): void { this.a.failed(err) }
}

/** Header pairs as Buffers (the form failover.ts and upstream pools read), from undici's object. */
export function headerPairs (h: Headers): Buffer[] {
  const out: Buffer[] = []
  for (const k in h) {
    const v = h[k]
    if (v === undefined) continue
    if (typeof v === 'string') out.push(Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1'))
    else for (const x of v) out.push(Buffer.from(k, 'latin1'), Buffer.from(x, 'latin1'))
  }
  return out
}
