/**
 * Writing through uWS's cork buffer without losing bytes.
 *
 * uWS gathers a corked callback's writes in one per-loop buffer of 16 KiB. A write that does not
 * fit while that buffer holds bytes makes uWS send the buffer first; when that send is only
 * partly taken (the client's socket is full) uWS keeps the buffer's rest but drops the write that
 * did not fit, and reports only "backpressure". Both builds Weir runs (20.30 on Node 20, 20.57 on
 * Node 24) do this: a streamed answer under backpressure silently lost whole chunks, and a client
 * counting bytes waited forever (measured: one to four 8 KB chunks lost in one of three 64 MB runs
 * with a reader that stalls; none lost with the rules below; test/http/cork-loss.test.ts).
 *
 * Invariants:
 *   - One corked callback is handed at most `CORK_ROOM` bytes (status line, headers, chunk
 *     framing and data counted), so every write fits the cork buffer and uWS keeps what it cannot
 *     send yet instead of dropping it.
 *   - A chunk longer than `PIECE` is written as several pieces (views, not copies), one cork each.
 *     The client sees the same bytes; only the HTTP chunk boundaries differ.
 *   - A whole body longer than `PIECE` goes out with `tryEnd`, which takes only what the socket
 *     accepts and says how much; the rest follows on `onWritable`, from the offset uWS reports.
 */
import type { HttpResponse } from 'uWebSockets.js'

/** uWS's per-loop cork buffer (LoopData::CORK_BUFFER_SIZE) less room for uWS's own headers. */
export const CORK_ROOM = 16 * 1024 - 1024
/** Chunked framing uWS adds around one write: CRLF, up to 8 hex digits, CRLF. */
export const FRAMING = 16
/** The longest piece of data one write may carry. */
export const PIECE = CORK_ROOM - FRAMING
/** What uWS writes for a status line and headers besides their text: separators, Date, its mark. */
const HEAD_OVERHEAD = 256

/** Bytes a status line and header pairs take in the cork buffer (an estimate from above). */
export function headBytes (pairs: ReadonlyArray<string | Buffer> | null): number {
  if (pairs === null) return 0
  let n = HEAD_OVERHEAD
  for (let i = 0; i < pairs.length; i++) n += (pairs[i] as string | Buffer).length * (typeof pairs[i] === 'string' ? 3 : 1) + 2
  return n
}

/** The part of a uWS response `endWhole` uses (tests pass a fake). */
export interface WholeResponse {
  cork (cb: () => void): unknown
  end (body?: string | Uint8Array, closeConnection?: boolean): unknown
  tryEnd (body: Uint8Array, totalSize: number): [boolean, boolean]
  getWriteOffset (): number
  onWritable (handler: (offset: number) => boolean): unknown
}

/**
 * End a response (status and headers already written in this cork) with `body`. A short body, or
 * one that must close the connection, goes in one `end`; a longer one through `tryEnd`, the rest
 * on each `onWritable` until uWS says it is all taken. (A long body that must close the connection
 * — a refusal sent before the upload was read — still goes in one `end`: those bodies are short
 * error envelopes, and the socket has sent nothing yet that could push back.)
 */
export function endWhole (res: WholeResponse | HttpResponse, body: string | Uint8Array, closeConnection: boolean): void {
  const r = res as WholeResponse
  const short = typeof body === 'string' ? body.length * 3 <= PIECE : body.length <= PIECE
  if (short || closeConnection) { r.end(body, closeConnection); return }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const total = bytes.length
  const start = r.getWriteOffset()
  const [, done] = r.tryEnd(bytes, total)
  if (done) return
  r.onWritable((offset) => {
    let more = false
    r.cork(() => {
      const [ok, fin] = r.tryEnd(bytes.subarray(offset - start), total)
      more = ok || fin
    })
    return more
  })
}
