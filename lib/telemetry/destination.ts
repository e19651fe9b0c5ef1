/**
 * One `telemetry.forward_to` collector: a bounded queue, a few concurrent POSTs, retries with
 * backoff, and a circuit breaker. Nothing here can block a caller: `offer()` either queues the
 * batch or refuses it at once (the caller counts the drop).
 *
 *   - Queue: at most `maxQueue` batches wait; a full queue refuses new ones.
 *   - Sending: at most `concurrency` requests at a time, each bounded by `timeoutMs`, through the
 *     SSRF-guarded agent (no redirects). Headers: content type, content encoding when the body is
 *     compressed, then the destination's own headers (which win). The client's Authorization is
 *     never in scope here.
 *   - Retries: network errors, 408, 429 and 5xx except 501 are retried up to `attempts` times in
 *     all, waiting 250 ms × 4^n with jitter, or the collector's Retry-After (at most 10 s).
 *   - Breaker: `breakAfter` failed attempts in a row pause the destination for `pauseMs`; queued
 *     and new batches are dropped meanwhile. After the pause one batch probes; success closes the
 *     breaker, failure pauses again. A 400 or 413 blames the payload, not the collector, and does
 *     not count.
 */
import type { Dispatcher } from 'undici'
import { describeError, ops } from '../log.js'
import type { Signal } from './otlp.js'

/** A stamped body shared by every destination it goes to; `release()` once per destination. */
export interface Batch {
  readonly signal: Signal
  readonly body: Uint8Array
  readonly json: boolean
  readonly gzip: boolean
  release: () => void
}

export interface DestinationConfig {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly metrics: boolean
  readonly logs: boolean
  readonly traces: boolean
}

export interface DestinationOptions {
  maxQueue: number
  concurrency: number
  timeoutMs: number
  attempts: number
  breakAfter: number
  pauseMs: number
  /** Extra headers computed per request (e.g. a Google access token). */
  authHeaders?: () => Promise<Record<string, string>>
}

export const DEFAULT_DESTINATION_OPTIONS: DestinationOptions = {
  maxQueue: 128,
  concurrency: 4,
  timeoutMs: 10_000,
  attempts: 3,
  breakAfter: 5,
  pauseMs: 30_000,
}

export type DropReason = 'queue_full' | 'circuit_open' | 'failed' | 'shutdown'

export interface DestinationEvents {
  onDrop: (d: Destination, b: Batch, reason: DropReason) => void
  onSent: (d: Destination, b: Batch) => void
}

/** The URL without credentials or query, for logs and metric labels. */
export function scrubUrl (url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}`
  } catch {
    return '(invalid url)'
  }
}

class AttemptError extends Error {
  constructor (message: string, readonly retry: boolean, readonly counts: boolean, readonly waitMs?: number) { super(message) }
}

const RETRYABLE = (s: number): boolean => s === 408 || s === 429 || (s >= 500 && s !== 501)

function retryAfterMs (h: string | string[] | undefined): number | undefined {
  const v = Array.isArray(h) ? h[0] : h
  if (v === undefined) return undefined
  const secs = Number(v)
  if (Number.isFinite(secs) && secs >= 0) return Math.min(10_000, secs * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.min(10_000, Math.max(0, at - Date.now()))
}

export class Destination {
  /** Credential-free URL, for logs and labels. */
  readonly label: string
  private readonly origin: string
  private readonly basePath: string
  private readonly search: string
  private readonly queue: Batch[] = []
  private active = 0
  private failures = 0
  private pausedUntil = 0
  private probing = false
  private closed = false
  /** Requests and backoff waits in progress, aborted at close. */
  private readonly live = new Set<AbortController>()
  private idleWaiters: Array<() => void> = []

  constructor (
    readonly config: DestinationConfig,
    private readonly dispatcher: Dispatcher,
    private readonly opts: DestinationOptions,
    private readonly events: DestinationEvents,
  ) {
    const u = new URL(config.url)
    this.origin = u.origin
    this.basePath = u.pathname.replace(/\/+$/, '')
    this.search = u.search
    this.label = scrubUrl(config.url)
  }

  wants (signal: Signal): boolean { return this.config[signal] }
  get queued (): number { return this.queue.length }
  get inflight (): number { return this.active }
  get paused (): boolean { return Date.now() < this.pausedUntil }

  /** Queue `b` for sending, or drop it at once (and tell `onDrop`). */
  offer (b: Batch): void {
    if (this.closed) { this.drop(b, 'shutdown'); return }
    if (this.paused) { this.drop(b, 'circuit_open'); return }
    if (this.queue.length >= this.opts.maxQueue) { this.drop(b, 'queue_full'); return }
    this.queue.push(b)
    this.pump()
  }

  private drop (b: Batch, reason: DropReason): void {
    try { this.events.onDrop(this, b, reason) } finally { b.release() }
  }

  private pump (): void {
    while (this.queue.length > 0 && this.active < this.opts.concurrency) {
      if (this.paused) {
        for (const b of this.queue.splice(0)) this.drop(b, 'circuit_open')
        break
      }
      // After a pause, one request at a time until one succeeds.
      const probe = this.failures >= this.opts.breakAfter
      if (probe) {
        if (this.probing) break
        this.probing = true
      }
      const b = this.queue.shift() as Batch
      this.active++
      void this.deliver(b).finally(() => {
        this.active--
        if (probe) this.probing = false
        this.pump()
        if (this.active === 0 && this.queue.length === 0) { const w = this.idleWaiters; this.idleWaiters = []; for (const f of w) f() }
      })
    }
  }

  private async deliver (b: Batch): Promise<void> {
    let last = ''
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      if (this.closed) { this.drop(b, 'shutdown'); return }
      if (attempt > 0 && this.paused) { this.drop(b, 'circuit_open'); return }
      try {
        await this.post(b)
        if (this.failures >= this.opts.breakAfter) ops.info(`telemetry: collector ${this.label} is accepting data again`)
        this.failures = 0
        try { this.events.onSent(this, b) } finally { b.release() }
        return
      } catch (err) {
        const e = err instanceof AttemptError ? err : new AttemptError(describeError(err), true, true)
        last = e.message
        if (e.counts) this.fail(e.message)
        if (!e.retry || this.closed) break
        if (attempt + 1 < this.opts.attempts) {
          const wait = e.waitMs ?? 250 * 4 ** attempt * (0.75 + Math.random() / 2)
          await this.sleep(wait)
        }
      }
    }
    if (this.closed) { this.drop(b, 'shutdown'); return }
    ops.debug(`telemetry: giving up on a ${b.signal} batch for ${this.label}: ${last}`)
    this.drop(b, 'failed')
  }

  private fail (why: string): void {
    this.failures++
    if (this.failures >= this.opts.breakAfter && !this.paused) {
      this.pausedUntil = Date.now() + this.opts.pauseMs
      ops.warn(`telemetry: collector ${this.label} failed ${this.failures} times in a row (last: ${why}); pausing it for ${Math.round(this.opts.pauseMs / 1000)} s`)
    }
  }

  private async post (b: Batch): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': b.json ? 'application/json' : 'application/x-protobuf',
      ...(b.gzip ? { 'content-encoding': 'gzip' } : {}),
    }
    for (const [k, v] of Object.entries(this.config.headers)) headers[k.toLowerCase()] = v
    if (this.opts.authHeaders !== undefined) Object.assign(headers, await this.opts.authHeaders())
    const ac = new AbortController()
    const timer = setTimeout(() => { ac.abort(new Error(`no answer in ${this.opts.timeoutMs} ms`)) }, this.opts.timeoutMs)
    this.live.add(ac)
    try {
      const res = await this.dispatcher.request({
        origin: this.origin,
        path: `${this.basePath}/v1/${b.signal}${this.search}`,
        method: 'POST',
        headers,
        body: b.body,
        signal: ac.signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      })
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {})
      const s = res.statusCode
      if (s >= 200 && s < 300) return
      throw new AttemptError(`HTTP ${s}`, RETRYABLE(s), s !== 400 && s !== 413, retryAfterMs(res.headers['retry-after']))
    } finally {
      clearTimeout(timer)
      this.live.delete(ac)
    }
  }

  private async sleep (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const ac = new AbortController()
      const done = (): void => { clearTimeout(t); this.live.delete(ac); resolve() }
      const t = setTimeout(done, ms)
      ac.signal.addEventListener('abort', done, { once: true })
      this.live.add(ac)
    })
  }

  /** Wait up to `graceMs` for the queue to empty, then abort whatever is left. */
  async close (graceMs: number): Promise<void> {
    if (this.active > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs)
        t.unref()
        this.idleWaiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    this.closed = true
    for (const b of this.queue.splice(0)) this.drop(b, 'shutdown')
    for (const ac of [...this.live]) ac.abort(new Error('gateway shutting down'))
  }
}
