/**
 * Benchmark upstream: a fast fake Anthropic Messages API on uWebSockets.js, so measurements are of
 * the gateway, not of the fake. Every POST /v1/messages is answered with a fixed streamed reply of
 * `--events` content deltas (each `--delay` ms apart when set; 0 = all at once, one write);
 * /v1/messages/count_tokens answers `{"input_tokens": N}`; POST /model/<id>/invoke-with-response-stream
 * answers the same events as Bedrock's AWS event stream (for the transcoder benchmark). Request
 * bodies are read and discarded.
 *
 * `--stream-bytes N` turns every /v1/messages reply into a firehose instead: about N bytes of
 * 4 KiB text deltas written as fast as the gateway accepts them (this fake honours backpressure
 * itself), for the stalled-reader benchmark. `GET /stats` reports `{open, written}`: streamed
 * replies (delayed or firehose) still open, and the firehose bytes handed to uWS so far (at most
 * one delta per stream beyond what the sockets took).
 *
 *   node dist/bench/fake-upstream.js --port 9300 [--events 20] [--delay 0] [--stream-bytes N]
 *
 * Prints `listening <port>` on stdout when ready.
 */
import { parseArgs } from 'node:util'
import type { HttpResponse } from 'uWebSockets.js'
import { loadUws } from '../lib/http/native.js'
import { events as eventList, streamBytes } from './eventstream-data.js'

const uWS = loadUws().module

const { values } = parseArgs({ options: { port: { type: 'string' }, events: { type: 'string' }, delay: { type: 'string' }, host: { type: 'string' }, 'stream-bytes': { type: 'string' } } })
const port = Number(values.port ?? 9300)
const events = Number(values.events ?? 20)
const delay = Number(values.delay ?? 0)
const firehose = Number(values['stream-bytes'] ?? 0)

// The same reply as Anthropic SSE and as Bedrock's AWS event stream (bench/eventstream-data.ts).
const { sse: whole, eventstream } = streamBytes(events)
const parts = eventList(events).map((e) => Buffer.from(`event: ${e.type}\ndata: ${e.json}\n\n`))
const COUNT = Buffer.from('{"input_tokens":1234}')
const BIG_DELTA = Buffer.from(`event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(4096) } })}\n\n`)

let open = 0
let written = 0

const app = uWS.App()
app.get('/stats', (res) => { res.writeHeader('content-type', 'application/json').end(JSON.stringify({ open, written })) })
app.post('/*', (res, req) => {
  const url = req.getUrl()
  let aborted = false
  let onGone: (() => void) | null = null
  res.onAborted(() => { aborted = true; onGone?.() })
  res.onData((_ab, last) => {
    if (!last || aborted) return
    if (url.startsWith('/model/')) {
      res.cork(() => { res.writeStatus('200 OK').writeHeader('content-type', 'application/vnd.amazon.eventstream').end(eventstream) })
      return
    }
    if (url.startsWith('/v1/messages/count_tokens')) {
      res.cork(() => { res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(COUNT) })
      return
    }
    if (firehose > 0) { onGone = pump(res, () => aborted); return }
    if (delay <= 0) {
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream').writeHeader('request-id', 'req_bench')
        res.end(whole)
      })
      return
    }
    res.cork(() => { res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream').writeHeader('request-id', 'req_bench').write(parts[0] as Buffer) })
    open++
    onGone = () => { open-- }
    let i = 1
    const step = (): void => {
      if (aborted) return
      if (i === parts.length) { onGone = null; open--; res.cork(() => res.end()); return }
      const p = parts[i++] as Buffer
      res.cork(() => { res.write(p) })
      setTimeout(step, delay)
    }
    setTimeout(step, delay)
  })
})

/**
 * Stream `firehose` bytes of deltas, writing until the socket pushes back and resuming when
 * writable. Returns the abort hook.
 */
function pump (res: HttpResponse, gone: () => boolean): () => void {
  open++
  let sent = 0
  let closed = false
  const close = (): void => { if (!closed) { closed = true; open-- } }
  const more = (): boolean => {
    let ok = true
    res.cork(() => {
      while (ok && sent < firehose) {
        ok = res.write(BIG_DELTA)
        sent += BIG_DELTA.length
        written += BIG_DELTA.length
      }
      if (ok) {
        for (const p of parts.slice(-3)) res.write(p)
        res.end()
        close()
      }
    })
    return ok
  }
  res.cork(() => { res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream').writeHeader('request-id', 'req_bench').write(parts[0] as Buffer) })
  res.onWritable(() => gone() ? true : more())
  more()
  return close
}

app.listen(values.host ?? '127.0.0.1', port, (sock) => {
  if (sock === false) { process.stderr.write(`cannot listen on ${port}\n`); process.exit(1) }
  process.stdout.write(`listening ${port}\n`)
})
