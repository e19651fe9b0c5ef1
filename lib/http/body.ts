/**
 * Reading a request body from uWebSockets.js with a size cap.
 *
 * The protocol lets a gateway require `Content-Length` (Claude Code always sends it) and cap the
 * size, so the cap is checked against the declared length *before* any byte is read: 411 when a
 * body is announced without a length (chunked), 413 when the length is over the cap. The body is
 * then copied into one buffer of exactly the declared size — uWS hands out ArrayBuffers that are
 * neutered when the callback returns, so each chunk must be copied anyway, and copying straight
 * into the final buffer avoids a second concatenation.
 *
 * `readBody` must be called synchronously from the route handler (uWS requires `onData` to be
 * attached before the handler returns).
 */
import type { HttpResponse } from 'uWebSockets.js'
import { GatewayError } from '../errors.js'
import type { Req } from './request.js'

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

/**
 * Read the whole body. Rejects with the framing error (before reading) or when the client sends
 * more bytes than it declared; never resolves if the client aborts (the abort handler finishes the
 * request instead).
 */
export function readBody (res: HttpResponse, rq: Req, maxBytes: number): Promise<Buffer> {
  let len: number
  try {
    len = declaredLength(rq, maxBytes)
  } catch (err) {
    res.onData(() => {})
    return Promise.reject(err)
  }
  return new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafe(len)
    let off = 0
    let failed = false
    res.onData((ab, isLast) => {
      if (failed) return
      const n = ab.byteLength
      if (off + n > len) {
        failed = true
        reject(new GatewayError('GW_BAD_REQUEST', 'request body is longer than its Content-Length'))
        return
      }
      if (n > 0) { buf.set(new Uint8Array(ab), off); off += n }
      if (isLast) {
        if (off !== len) { failed = true; reject(new GatewayError('GW_BAD_REQUEST', 'request body is shorter than its Content-Length')); return }
        resolve(buf)
      }
    })
    if (len === 0 && rq.headers['content-length'] === undefined) {
      // No body announced at all: uWS may never call onData with isLast, so resolve now.
      resolve(buf)
    }
  })
}
