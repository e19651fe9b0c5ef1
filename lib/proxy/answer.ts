/**
 * A committed answer: the upstream's status line went (or is going) to the client, so nothing is
 * retried from here on. Its headers are filtered for relaying; a provider's own stream format is
 * re-encoded as Anthropic SSE (the upstream's `decoder`); usage is read from the passing bytes
 * (sse-usage.ts) or from the JSON body; each chunk is passed on as the same Buffer.
 *
 * A capped stream is metered as it passes: when its output passes the count spend control last
 * named (first the request's `max_tokens`), spend control is asked again (`outputCheck`), with the
 * upstream held while it asks a lease. When it refuses, the stream is cut at the next event
 * boundary with an SSE `error` event, the upstream request is aborted, and what reached the client
 * is settled. An upstream failure mid-stream ends an SSE stream with an `error` event and drops
 * any other connection.
 *
 * Invariants: the client only ever sees whole SSE events before a gateway `error` event (a blank
 * line closes an unfinished one); at most `MAX_CUT_TAIL` bytes pass after a cut was decided; the
 * request is settled exactly once (settle.ts).
 */
import { GatewayError, errorEvent, upstreamFailure } from '../errors.js'
import { ops } from '../log.js'
import type { Headers, LateHead } from './bridge.js'
import type { Exchange } from './exchange.js'
import { relayable } from './headers.js'
import { done, outcome } from './settle.js'
import { UsageTap } from './sse-usage.js'
import type { StreamDecoder, Upstream } from './upstreams/types.js'

const MAX_JSON_BODY = 8 * 1024 * 1024
/** Most bytes passed after a cut was decided, to reach the end of the event in progress. */
const MAX_CUT_TAIL = 64 * 1024
/** Response header naming where a customer-routed request was served (only `cloud` is sent). */
export const CRI_KIND = 'x-cri-upstream-kind'

export class Answer implements LateHead {
  private decoder: StreamDecoder | null = null
  private sse = false
  /** Output tokens (estimated) past which spend control is asked again; Infinity for uncapped requests. */
  private checkAt = Infinity
  /** A chunk held (unsent) while spend control decides. */
  private heldChunk: Buffer | null = null
  /** The stream is being cut: bytes are passed only up to the next event boundary. */
  private cutting = false
  private cutBytes = 0

  constructor (private readonly x: Exchange) {}

  /** The upstream answered with a status that is the answer: queue its status line and headers. */
  begin (up: Upstream, status: number, headers: Headers): void {
    const x = this.x
    const ok = status >= 200 && status < 300
    const messages = x.endpoint === 'messages'
    const head: Array<string | Buffer> = []
    let ct: string | undefined
    for (const k in headers) {
      const v = headers[k]
      if (v === undefined) continue
      if (k === 'content-type') ct = typeof v === 'string' ? v : v[0]
      else if (k === 'request-id') x.upstreamRequestId = typeof v === 'string' ? v : v[0]
      if (!relayable(k)) continue
      if (typeof v === 'string') head.push(k, v)
      else for (let i = 0; i < v.length; i++) head.push(k, v[i] as string)
    }
    const decoder = ok && up.decoder !== undefined ? up.decoder(status, ct, x.rq.id) : null
    this.decoder = decoder
    if (decoder !== null) {
      // The client gets the decoder's content type instead of the upstream's.
      for (let i = head.length - 2; i >= 0; i -= 2) if (head[i] === 'content-type') head.splice(i, 2)
      head.push('content-type', decoder.contentType)
    }
    const outType = decoder !== null ? decoder.contentType : ct
    this.sse = outType !== undefined && outType.startsWith('text/event-stream')
    let late = false
    if (ok && messages) {
      if (this.sse) {
        x.tap = new UsageTap()
        if (x.admission !== null) {
          this.checkAt = x.scan.maxTokens !== undefined && x.scan.maxTokens > 0 ? x.scan.maxTokens : 65_536
          late = true
        }
      } else x.json = []
    }
    if (!late && ok && messages) {
      const spend = x.accounting.headers(x.admission)
      if (spend !== null) for (const k in spend) head.push(k, spend[k] as string)
    }
    if (x.cri && up.sanitizeErrors) head.push(CRI_KIND, 'cloud')
    x.out.start(status, head, late ? this : null)
    x.committed = true
    if (this.sse && up.needsPings) x.out.ping()
  }

  /** A capped stream's usage headers count what the request itself costs (`message_start` carries its input). */
  lateHeaders (): Record<string, string> | null {
    return this.x.accounting.headers(this.x.admission, outcome(this.x, this.x.out.status, 0))
  }

  data (chunk: Buffer): void {
    const x = this.x
    let out: Buffer | null = chunk
    if (this.decoder !== null) {
      try {
        out = this.decoder.push(chunk)
      } catch (err) {
        this.failed(err)
        x.out.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      if (out === null || out.length === 0) return
    }
    if (x.tap !== null) {
      if (this.cutting) { this.cut(out); return }
      // Held for a lease, or being cut (reading on to the end of the event in progress).
      if (!this.pass(out, false)) return
    } else {
      if (x.json !== null && x.jsonBytes < MAX_JSON_BODY) { x.json.push(out); x.jsonBytes += out.length }
      x.out.send(out)
    }
    x.out.pace()
  }

  complete (): void {
    const x = this.x
    if (this.decoder !== null) {
      try {
        const tail = this.decoder.end()
        if (tail !== null && tail.length > 0) { x.tap?.push(tail); x.out.send(tail) }
      } catch (err) {
        this.failed(err)
        return
      }
    }
    x.out.end()
    done(x, x.out.status)
  }

  /** The upstream broke after the client got the status line: end the stream as cleanly as we can. */
  failed (err: unknown): void {
    const x = this.x
    if (x.settled) return
    ops.warn(`upstream ${x.upstream?.name ?? '?'} failed mid-stream request_id=${x.rq.id}: ${err instanceof Error ? err.message : String(err)}`)
    x.abortReason = 'upstream_error'
    if (x.rq.aborted) { done(x, 499); return }
    if (this.sse) {
      const e = upstreamFailure(err)
      this.streamError(e.code === 'GW_UPSTREAM_TIMEOUT' ? new GatewayError(e.code, 'the upstream went silent while streaming') : new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'the upstream connection failed while streaming'))
    } else x.out.close()
    done(x, x.out.status)
  }

  // ---- metering a capped stream -----------------------------------------------------------------

  /**
   * Pass streamed output to the client within the count spend control named (`checkAt`). A chunk
   * that would go past it is split at event boundaries: the whole events that fit pass, then spend
   * control is asked again for the rest — so a fast upstream that delivers a whole stream in one
   * read is cut where the reservation ends, not before its first event nor after its last. After
   * an answer that does not cover the next event, that one event passes alone (progress is one
   * event per answer). True when all of `out` passed; false when the rest is held or being cut.
   */
  private pass (out: Buffer, answered: boolean): boolean {
    const x = this.x
    const tap = x.tap as UsageTap
    while (out.length > 0 && tap.projectedOutputTokens(out.length) > this.checkAt) {
      let k = this.fitting(out)
      if (k === 0 && answered) { k = boundaryEnd(out); if (k < 0) k = out.length }
      if (k > 0) {
        const part = out.subarray(0, k)
        tap.push(part)
        x.out.send(part)
        out = out.subarray(k)
        answered = false
        continue
      }
      // Ask for the next event only: the answer decides how far the stream may go, event by event.
      const next = boundaryEnd(out)
      if (!this.check(out, next < 0 ? out.length : next)) return false
      answered = true
    }
    if (out.length > 0) { tap.push(out); x.out.send(out) }
    return true
  }

  /** Length of the longest run of whole events at the start of `out` that stays within `checkAt`. */
  private fitting (out: Buffer): number {
    const tap = this.x.tap as UsageTap
    let k = 0
    for (;;) {
      const b = boundaryEnd(k === 0 ? out : out.subarray(k))
      if (b < 0 || tap.projectedOutputTokens(k + b) > this.checkAt) return k
      k += b
    }
  }

  /**
   * The next `need` bytes of `chunk` would take the stream's output past the count spend control
   * named: ask it again. True when the count was raised (the caller passes what fits); false when
   * it was dealt with here: the stream is being cut (the chunk passed up to its first event
   * boundary), or the upstream is held (with `chunk` unsent) until a lease answers.
   */
  private check (chunk: Buffer, need: number): boolean {
    const x = this.x
    const r = x.accounting.outputCheck(x.admission, x.principal, outcome(x, x.out.status, need))
    if (typeof r === 'number') {
      if (r > 0) { this.checkAt = r; return true }
      this.cut(chunk, true)
      return false
    }
    this.heldChunk = chunk
    x.out.check()
    r.then((n) => { this.answered(n) }, (err: unknown) => {
      ops.error(`spend output check failed request_id=${x.rq.id}: ${err instanceof Error ? err.message : String(err)}`)
      this.answered(Infinity)
    })
    return false
  }

  /** Spend control answered a held stream's check with a new count (0: refused). */
  private answered (n: number): void {
    const x = this.x
    const c = this.heldChunk as Buffer
    this.heldChunk = null
    if (x.settled || x.rq.aborted) return
    if (n === 0) {
      if (!this.cut(c, true)) return
    } else {
      this.checkAt = n
      if (!this.pass(c, true) && (this.heldChunk !== null || x.settled)) return
    }
    x.out.release()
  }

  /**
   * Cut the stream: pass `chunk` only up to the end of the event in progress (nothing of it when
   * the client is at an event boundary), then an SSE `error` event and the end; abort the upstream
   * and settle what reached the client. True while more bytes are needed to reach a boundary.
   */
  private cut (chunk: Buffer, first = false): boolean {
    const x = this.x
    if (first) { this.cutting = true; x.abortReason = 'spend_limit' }
    if (!x.out.atBoundary) {
      const k = boundaryEnd(chunk)
      const part = k < 0 ? chunk : chunk.subarray(0, k)
      x.tap?.push(part)
      x.out.send(part)
      this.cutBytes += part.length
      if (k < 0 && this.cutBytes < MAX_CUT_TAIL) return true
    }
    const upstream = x.out
    this.streamError(new GatewayError('GW_SPEND_BLOCKED', 'spend limit reached: the response ran past what was reserved for it and was cut'))
    done(x, x.out.status)
    upstream.abort(new Error('stream cut at the spend limit'))
    return false
  }

  /** End the client's SSE stream with an `error` event (after a blank line if an event was left unfinished). */
  private streamError (err: GatewayError): void {
    const out = this.x.out
    out.send(Buffer.from(`${out.atBoundary ? '' : '\n\n'}${errorEvent(err, this.x.rq.id)}`))
    out.end()
  }
}

/** Offset just past the first SSE event boundary in `b` (LF or CRLF lines), or -1. */
export function boundaryEnd (b: Buffer): number {
  const lf = b.indexOf('\n\n')
  const crlf = b.indexOf('\r\n\r\n')
  if (lf < 0) return crlf < 0 ? -1 : crlf + 4
  return crlf < 0 || lf + 2 < crlf + 4 ? lf + 2 : crlf + 4
}
