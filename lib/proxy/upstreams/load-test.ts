/**
 * `load_test_mode`: the dispatcher every upstream gets instead of its connection pool, so a load
 * test exercises the whole gateway (sign-in tokens, policy, spend admission and metering, failover
 * code, audit) while no model request leaves the process.
 *
 * Invariants:
 *   - no request reaches the network: `upstreamDispatcher` (anthropic.ts) hands out this sender
 *     instead of a pool, and the mock provider uses it too; credential calls (STS, token
 *     exchanges) still go out, as they are not model requests;
 *   - the reply is shaped like the provider the upstream speaks, read from the outgoing path:
 *     count paths get a zero count (Bedrock's CountTokens shape for Bedrock), Bedrock's
 *     `invoke-with-response-stream` an AWS event stream, streaming requests (`"stream": true`,
 *     Vertex `:streamRawPredict`) SSE, everything else one JSON message;
 *   - one reply carries `ceil(reply_tokens / 3)` text deltas (about three tokens each) and reports
 *     zero usage, so it meters at nothing; the first delta says that the reply is canned;
 *   - a streamed reply's frames are spread evenly over `reply_seconds` (frame i of n is due at
 *     start + (i+1)·T/n), honouring the client's back-pressure and aborts like a socket would;
 *   - a worker logs one `[gateway]` line of counts every 10 s while there is traffic.
 */
import type { Dispatcher } from 'undici'
import { ops } from '../../log.js'
import { EVENTSTREAM_TYPE, loadEventStream } from './eventstream.js'
import type { Sender } from './types.js'
import { LocalController, type Handler } from './local.js'

export interface LoadTestSettings { readonly reply_tokens: number, readonly reply_seconds: number }

/** The first delta of every canned reply. */
export const LOAD_TEST_NOTICE = '[Weir load-test mode: this reply is canned and your request never reached a model. If that surprises you, ask whoever runs this gateway.] '
const FILLER = 'load test   '
const TOKENS_PER_DELTA = 3
export const LOAD_TEST_MODEL = 'load-test'
const ID = 'msg_loadtest'
const ZERO = { input_tokens: 0, output_tokens: 0 }
const STATS_EVERY_MS = 10_000

const enc = (s: string): Buffer => Buffer.from(s, 'utf8')

/** Number of text deltas one reply carries. */
export const deltasFor = (tokens: number): number => Math.max(1, Math.ceil(tokens / TOKENS_PER_DELTA))

function events (tokens: number): Array<Record<string, unknown>> {
  const n = deltasFor(tokens)
  const deltas = Array.from({ length: n }, (_, i) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: i === 0 ? LOAD_TEST_NOTICE : FILLER } }))
  return [
    { type: 'message_start', message: { id: ID, type: 'message', role: 'assistant', model: LOAD_TEST_MODEL, content: [], stop_reason: null, stop_sequence: null, usage: ZERO } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ...deltas,
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 0 } },
    { type: 'message_stop' },
  ]
}

/** One Bedrock `chunk` message carrying `json` (base64 in `{"bytes":…}`), as the AWS event stream encodes it. */
function chunkMessage (json: string): Buffer {
  const body = enc(JSON.stringify({ bytes: Buffer.from(json).toString('base64') }))
  return Buffer.from(loadEventStream().codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: 'chunk' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body,
  }))
}

type Shape = 'count' | 'bedrock-count' | 'eventstream' | 'sse' | 'json'

/** Which wire shape the upstream behind `path` expects back. */
export function shapeFor (path: string, body: unknown): Shape {
  const p = path.split('?')[0] as string
  if (p.endsWith('/count_tokens') || p.includes('count-tokens:')) return 'count'
  if (p.endsWith('/count-tokens')) return 'bedrock-count'
  if (p.endsWith('/invoke-with-response-stream')) return 'eventstream'
  if (p.endsWith(':streamRawPredict')) return 'sse'
  if (p.endsWith('/invoke') || p.endsWith(':rawPredict')) return 'json'
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : ''
  return /"stream"\s*:\s*true/.test(text) ? 'sse' : 'json'
}

/** Counters for the periodic log line. */
class Stats {
  arrived = 0
  finished = 0
  hungUp = 0
  open = 0
  peakOpen = 0
  lateSum = 0
  lateWorst = 0
  private since = Date.now()
  private timer: NodeJS.Timeout | null = null

  touch (): void {
    if (this.timer !== null) return
    this.since = Date.now()
    this.timer = setInterval(() => { this.report() }, STATS_EVERY_MS)
    this.timer.unref()
  }

  report (): void {
    const secs = Math.max(1, (Date.now() - this.since) / 1000)
    if (this.arrived + this.finished + this.hungUp + this.open === 0) {
      if (this.timer !== null) clearInterval(this.timer)
      this.timer = null
      return
    }
    const late = this.finished > 0 ? `; streamed replies ended on average ${Math.round(this.lateSum / this.finished)} ms after reply_seconds (worst ${Math.round(this.lateWorst)} ms)` : ''
    ops.info(`load test, last ${Math.round(secs)} s on this worker: ${(this.arrived / secs).toFixed(1)} replies/s started, ${(this.finished / secs).toFixed(1)}/s finished, ${this.open} open now (peak ${this.peakOpen}), ${this.hungUp} ended early by the client${late}`)
    this.since = Date.now()
    this.arrived = 0
    this.finished = 0
    this.hungUp = 0
    this.lateSum = 0
    this.lateWorst = 0
    this.peakOpen = this.open
  }

  stop (): void { if (this.timer !== null) clearInterval(this.timer); this.timer = null }
}

/** Answers every model request in-process with a canned reply (see the header). */
export class LoadTestSender implements Sender {
  private readonly sse: Buffer[]
  private readonly eventstream: Buffer[]
  private readonly json: Buffer
  private readonly stepMs: number
  readonly stats = new Stats()

  constructor (private readonly cfg: LoadTestSettings) {
    const list = events(cfg.reply_tokens)
    this.sse = list.map((e) => enc(`event: ${e.type as string}\ndata: ${JSON.stringify(e)}\n\n`))
    this.eventstream = list.map((e) => chunkMessage(JSON.stringify(e)))
    const text = LOAD_TEST_NOTICE + FILLER.repeat(deltasFor(cfg.reply_tokens) - 1)
    this.json = enc(JSON.stringify({ id: ID, type: 'message', role: 'assistant', model: LOAD_TEST_MODEL, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: ZERO }))
    this.stepMs = cfg.reply_seconds * 1000 / list.length
  }

  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Handler
    const shape = shapeFor(String(opts.path), opts.body)
    const s = this.stats
    s.touch()
    s.arrived++
    let aborted = false
    let timer: NodeJS.Timeout | null = null
    let waiting = false
    let streaming = false
    const hangUp = (): void => {
      if (streaming) { streaming = false; s.open--; s.hungUp++ }
    }
    let plan = (): void => {}
    const c = new LocalController((reason: Error) => {
      if (aborted) return
      aborted = true
      if (timer !== null) clearTimeout(timer)
      hangUp()
      h.onResponseError(c, reason)
    }, () => { if (!waiting || aborted) return; waiting = false; if (timer === null) plan() })
    h.onRequestStart(c, {})
    const whole = (type: string, body: Buffer): void => {
      h.onResponseStart(c, 200, { 'content-type': type }, 'OK')
      if (!aborted) h.onResponseData(c, body)
      if (!aborted) { s.finished++; h.onResponseEnd(c, {}) }
    }
    queueMicrotask(() => {
      if (aborted) return
      if (shape === 'count') { whole('application/json', enc('{"input_tokens":0}')); return }
      if (shape === 'bedrock-count') { whole('application/json', enc('{"inputTokens":0}')); return }
      if (shape === 'json') { whole('application/json', this.json); return }
      const frames = shape === 'eventstream' ? this.eventstream : this.sse
      const type = shape === 'eventstream' ? EVENTSTREAM_TYPE : 'text/event-stream; charset=utf-8'
      if (this.stepMs === 0) { whole(type, Buffer.concat(frames)); return }
      const start = performance.now()
      let sent = 0
      streaming = true
      s.open++
      s.peakOpen = Math.max(s.peakOpen, s.open)
      const step = (): void => {
        timer = null
        if (aborted) return
        // Everything due by now goes out (a late timer catches up instead of drifting).
        const due = Math.min(frames.length, Math.max(sent + 1, Math.floor((performance.now() - start) / this.stepMs)))
        while (sent < due) {
          h.onResponseData(c, frames[sent++] as Buffer)
          if (aborted) return
          if (c.paused) { waiting = true; break }
        }
        if (sent === frames.length) {
          streaming = false
          s.open--
          s.finished++
          const late = Math.max(0, performance.now() - start - this.cfg.reply_seconds * 1000)
          s.lateSum += late
          s.lateWorst = Math.max(s.lateWorst, late)
          h.onResponseEnd(c, {})
          return
        }
        if (waiting) return
        plan()
      }
      plan = (): void => {
        const at = start + (sent + 1) * this.stepMs
        timer = setTimeout(step, Math.max(0, Math.ceil(at - performance.now())))
      }
      h.onResponseStart(c, 200, { 'content-type': type, 'cache-control': 'no-cache' }, 'OK')
      if (!aborted) plan()
    })
    return true
  }

  async close (): Promise<void> { this.stats.stop() }
}
