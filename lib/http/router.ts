/**
 * Route table and the per-request pipeline shared by every route on every worker.
 *
 * Order of checks (first that applies answers):
 *   1. client IP (trusted-proxy aware) and request id are fixed;
 *   2. `access_control.deny_cidrs` → 403 on every path, health probes included;
 *   3. `/healthz`, `/readyz` are answered (exempt from the allow-list);
 *   4. `access_control.allow_cidrs` (when non-empty) → 403 outside it;
 *   5. `limits.max_url_length` → 414, `limits.max_request_header_bytes` → 431;
 *   6. a body announced without Content-Length → 411, one over `limits.max_request_bytes` → 413
 *      (checked on the declared length, before a byte is read);
 *   7. the route: an exact `METHOD path` match, then prefix routes; a known path with another
 *      method → 405; anything else → 404 `not_found_error`.
 *
 * Handlers may be async; a rejection is rendered by `sendError`. Every request registers an abort
 * handler up front (uWS terminates the process if a response outlives its connection without one).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { GatewayError } from '../errors.js'
import { audit } from '../log.js'
import { type CidrList } from '../net/cidr.js'
import { resolveClientIp } from '../net/client-ip.js'
import { declaredLength } from './body.js'
import { captureRequest, finish, type Req } from './request.js'
import type { Owned } from './generations.js'
import { fail, sendError } from './respond.js'

export type Handler = (res: HttpResponse, rq: Req) => void | Promise<void>

export interface PipelineOptions {
  readonly allow: CidrList
  readonly deny: CidrList
  readonly trusted: CidrList
  readonly maxUrlLength: number | undefined
  readonly maxHeaderBytes: number | undefined
  /** `limits.max_request_bytes`: checked against Content-Length before routing. */
  readonly maxBodyBytes: number
}

/** Paths answered before the allow-list is consulted. */
const PROBES = new Set(['/healthz', '/readyz'])

export class Router {
  private readonly exact = new Map<string, Handler>()
  private readonly paths = new Map<string, string[]>()
  private readonly prefixes: Array<{ prefix: string, methods: readonly string[] | '*', handler: Handler }> = []
  private readonly resources: Owned[] = []

  /** Something a route set up (a timer) that must stop when this router's config generation retires. */
  own (close: () => void): void { this.resources.push({ key: {}, close }) }

  /** What `own` collected. */
  owned (): readonly Owned[] { return this.resources }

  /** Register `handler` for `path` under each method (`'*'` = any method). */
  on (methods: string | readonly string[], path: string, handler: Handler): this {
    for (const m of typeof methods === 'string' ? [methods] : methods) {
      this.exact.set(`${m} ${path}`, handler)
      const known = this.paths.get(path) ?? []
      known.push(m)
      this.paths.set(path, known)
    }
    return this
  }

  /** Register `handler` for every path under `prefix` (e.g. `/v1/organizations/spend_limits`). */
  under (methods: readonly string[] | '*', prefix: string, handler: Handler): this {
    this.prefixes.push({ prefix, methods, handler })
    return this
  }

  /** The handler for a request, a 405 marker listing the allowed methods, or null. */
  match (method: string, path: string): Handler | { allow: string[] } | null {
    const h = this.exact.get(`${method} ${path}`) ?? this.exact.get(`* ${path}`)
    if (h !== undefined) return h
    for (const p of this.prefixes) {
      if (path === p.prefix || path.startsWith(p.prefix + '/')) {
        if (p.methods === '*' || p.methods.includes(method)) return p.handler
      }
    }
    const known = this.paths.get(path)
    if (known !== undefined) return { allow: known }
    return null
  }
}

/**
 * Refuse a request whose body framing uWS and Weir could read differently (`rq.badFraming`):
 * 411 for Transfer-Encoding alone (Weir needs a length), 400 otherwise, and close the connection.
 * The answer is sent from the next turn of the event loop, not from this handler: uWS parses
 * every request already read from the socket before that, and one it finds behind this request
 * (for uWS, the bytes after the head are the next request) would be served and would clear the
 * pending close. While this answer is still pending, uWS closes a connection on which another
 * request arrives instead, so a smuggled request is never served.
 */
function refuseFraming (res: HttpResponse, rq: Req): void {
  res.onData(() => {})
  rq.bodyOpen = true
  const te = rq.headers['transfer-encoding'] !== undefined && rq.headers['content-length'] === undefined
  const err = te ? new GatewayError('GW_LENGTH_REQUIRED') : new GatewayError('GW_BAD_REQUEST', `ambiguous request framing: ${rq.badFraming ?? ''}`)
  setImmediate(() => { sendError(res, rq, err) })
}

/** Fill `rq.ip` from the peer address and, behind trusted proxies, X-Forwarded-For. */
export function clientIp (rq: Req, trusted: CidrList): string {
  if (rq.ip === '') rq.ip = resolveClientIp(rq.peer, rq.headers['x-forwarded-for'] ?? '', trusted)
  return rq.ip
}

/**
 * Build the uWS handler for `router`. `track` is told when a request starts and finishes (for
 * in-flight accounting during graceful drain).
 */
export function pipeline (router: Router, opts: PipelineOptions, track: { start: () => void, end: (rq: Req) => void }) {
  const { allow, deny, trusted, maxUrlLength, maxHeaderBytes, maxBodyBytes } = opts
  const ipNeeded = !allow.empty || !deny.empty
  return (res: HttpResponse, req: HttpRequest): void => {
    const rq = captureRequest(res, req)
    track.start()
    rq.onFinish = track.end
    res.onAborted(() => {
      rq.aborted = true
      const cb = rq.onAbort
      rq.onAbort = null
      if (cb !== null) cb()
      finish(rq)
    })
    if (ipNeeded) {
      const ip = clientIp(rq, trusted)
      if (!deny.empty && deny.has(ip)) {
        audit('access.denied', { request_id: rq.id, reason: 'ip_denylist', client_ip: ip })
        fail(res, rq, 'GW_IP_DENIED')
        return
      }
      if (!allow.empty && !PROBES.has(rq.path) && !allow.has(ip)) {
        audit('access.denied', { request_id: rq.id, reason: 'ip_not_allowlisted', client_ip: ip })
        fail(res, rq, 'GW_IP_DENIED')
        return
      }
    }
    if (maxUrlLength !== undefined && rq.path.length + (rq.query === '' ? 0 : rq.query.length + 1) > maxUrlLength) {
      fail(res, rq, 'GW_URI_TOO_LONG')
      return
    }
    if (maxHeaderBytes !== undefined && rq.headerBytes > maxHeaderBytes) {
      fail(res, rq, 'GW_HEADERS_TOO_LARGE')
      return
    }
    if (rq.badFraming !== null) {
      refuseFraming(res, rq)
      return
    }
    if (rq.headers['content-length'] !== undefined) {
      try {
        declaredLength(rq, maxBodyBytes)
      } catch (err) {
        res.onData(() => {})
        sendError(res, rq, err)
        return
      }
    }
    const m = router.match(rq.method, rq.path)
    if (m === null) { fail(res, rq, 'GW_NOT_FOUND'); return }
    if (typeof m !== 'function') {
      sendError(res, rq, new GatewayError('GW_METHOD_NOT_ALLOWED', `method ${rq.method} is not allowed on ${rq.path}`, { headers: { allow: m.allow.join(', ') } }))
      return
    }
    try {
      const p = m(res, rq)
      if (p !== undefined) p.catch((err: unknown) => { sendError(res, rq, err) })
    } catch (err) {
      sendError(res, rq, err)
    }
  }
}
