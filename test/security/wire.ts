/**
 * Raw-socket HTTP for the attack tests: send exact bytes (the shapes a normal client refuses to
 * produce), then collect what comes back until the server closes, a bound passes, or — when asked —
 * as soon as `expect` complete responses have arrived. Every outcome is data, never a thrown error:
 * a reset or a refused write is part of what the test looks at.
 */
import { connect, type Socket } from 'node:net'
import { loadUws } from '../../lib/http/native.js'

export interface WireResult {
  /** Every byte received, latin1. */
  readonly raw: string
  /** The responses parsed out of `raw`, in order (a truncated last one is left out). */
  readonly responses: readonly WireResponse[]
  /** How the exchange ended: the server closed (FIN or reset), or the bound ran out first. */
  readonly end: 'closed' | 'reset' | 'timeout' | 'complete'
  /** Milliseconds from the first write to the end. */
  readonly ms: number
}

export interface WireResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** Parse as many complete HTTP/1.1 responses as `raw` holds (content-length, chunked or close-delimited framing). */
export function parseResponses (raw: string): WireResponse[] {
  const out: WireResponse[] = []
  let at = 0
  while (at < raw.length) {
    const he = raw.indexOf('\r\n\r\n', at)
    if (he < 0) break
    const lines = raw.slice(at, he).split('\r\n')
    const status = Number(lines[0]?.split(' ')[1])
    const headers: Record<string, string> = {}
    for (const l of lines.slice(1)) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim() }
    let p = he + 4
    let body = ''
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      let ok = false
      for (;;) {
        const le = raw.indexOf('\r\n', p)
        if (le < 0) break
        const n = parseInt(raw.slice(p, le), 16)
        if (Number.isNaN(n)) break
        if (n === 0) { const fe = raw.indexOf('\r\n', le + 2); if (fe < 0) break; p = fe + 2; ok = true; break }
        if (le + 2 + n + 2 > raw.length) break
        body += raw.slice(le + 2, le + 2 + n)
        p = le + 2 + n + 2
      }
      if (!ok) break
    } else if (headers['content-length'] === undefined && (headers.connection ?? '').toLowerCase() === 'close' && status >= 200 && status !== 204 && status !== 304) {
      // Close-delimited (RFC 9112 §6.3): the body is everything up to the close (uWS's parser answers so).
      body = raw.slice(p)
      p = raw.length
    } else {
      const n = Number(headers['content-length'] ?? '0')
      if (p + n > raw.length) break
      body = raw.slice(p, p + n)
      p += n
    }
    out.push({ status, headers, body })
    at = p
  }
  return out
}

export interface WireOptions {
  /** Give up (and destroy the socket) after this many ms. */
  readonly timeoutMs: number
  /** Resolve as soon as this many complete responses arrived (default: wait for the close). */
  readonly expect?: number
  /**
   * Resolve once at least one response arrived and nothing more came for this many ms (keep-alive);
   * a function is given the number of responses so far.
   */
  readonly settleMs?: number | ((answers: number) => number)
  /** How many responses `raw` holds so far (default: the complete responses parsed from it). */
  readonly answers?: (raw: string) => number
  /** Written after the first bytes, one by one, `gapMs` apart (slow senders). */
  readonly more?: readonly Buffer[]
  readonly gapMs?: number
}

/** Send `bytes` to 127.0.0.1:`port` and collect the answer (see the file comment). */
export async function wire (port: number, bytes: Buffer | string, o: WireOptions): Promise<WireResult> {
  const t0 = Date.now()
  return await new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1')
    let raw = ''
    let settled = false
    let settle: NodeJS.Timeout | null = null
    let reset = false
    const done = (end: WireResult['end']): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (settle !== null) clearTimeout(settle)
      sock.destroy()
      resolve({ raw, responses: parseResponses(raw), end, ms: Date.now() - t0 })
    }
    const timer = setTimeout(() => done('timeout'), o.timeoutMs)
    sock.setEncoding('latin1')
    sock.on('data', (d: string) => {
      raw += d
      if (o.expect === undefined && o.settleMs === undefined) return
      const n = o.answers !== undefined ? o.answers(raw) : parseResponses(raw).length
      if (o.expect !== undefined && n >= o.expect) { done('complete'); return }
      if (o.settleMs !== undefined && n >= 1) {
        if (settle !== null) clearTimeout(settle)
        settle = setTimeout(() => done('complete'), typeof o.settleMs === 'function' ? o.settleMs(n) : o.settleMs)
      }
    })
    sock.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reset = true })
    sock.on('close', () => done(reset ? 'reset' : 'closed'))
    sock.write(bytes)
    if (o.more !== undefined) {
      let i = 0
      const next = (): void => {
        if (settled || i >= (o.more?.length ?? 0)) return
        sock.write(o.more?.[i++] as Buffer)
        setTimeout(next, o.gapMs ?? 0)
      }
      setTimeout(next, o.gapMs ?? 0)
    }
  })
}

/** True when `body` is an Anthropic error envelope or an RFC 6749 error object. */
/**
 * An answer written by uWebSockets.js's own HTTP parser, before Weir saw the request: a 400, 413,
 * 431 or 505 with `Connection: close` and a small HTML body signed `uWebSockets/…`. The current
 * build answers malformed heads this way (HTTP/1.0 and other versions, bare LF, absolute-form,
 * control bytes); the body cannot be Weir's JSON envelope because Weir never ran.
 */
export function isParserAnswer (r: WireResponse): boolean {
  return [400, 413, 431, 505].includes(r.status) && (r.headers.connection ?? '').toLowerCase() === 'close' &&
    r.headers['content-type'] === undefined && /<i>uWebSockets\/\d+ Server<\/i>/.test(r.body)
}

export function isErrorJson (body: string): boolean {
  let v: unknown
  try { v = JSON.parse(body) } catch { return false }
  if (typeof v !== 'object' || v === null) return false
  const o = v as Record<string, unknown>
  if (o.type === 'error') {
    const e = o.error as Record<string, unknown> | undefined
    return typeof e === 'object' && e !== null && typeof e.type === 'string' && typeof e.message === 'string'
  }
  return typeof o.error === 'string' && (o.error_description === undefined || typeof o.error_description === 'string')
}

/** The uWebSockets.js build the gateway runs on this host (lib/http/native.ts chooses it the same way in every thread). */
export interface UwsBuild {
  readonly name: string
  readonly version: string
  /**
   * True for the legacy Node 20 build (`@trufflesuite/uws-js-unofficial` 20.30, the fallback on
   * glibc < 2.38), whose parser closes the connection without a response for HTTP/1.0,
   * absolute-form targets, more than 48 headers, lower-case methods and control characters in
   * header values. The current build answers those with 505/400/431 itself.
   */
  readonly legacyParser: boolean
  /** For skip reasons. */
  readonly label: string
}

export function uwsBuild (): UwsBuild {
  const b = loadUws()
  const legacyParser = b.legacy || b.pkg === '@trufflesuite/uws-js-unofficial' || /^20\.30\./.test(b.version)
  return { name: b.pkg, version: b.version, legacyParser, label: `${b.pkg}@${b.version}${b.legacy ? ' (legacy Node 20 fallback)' : ''}` }
}
