/**
 * The console's JSON endpoints, `/console/api/…`, on every worker. Each one authenticates the
 * browser session (lib/console/session.ts), then either answers from this worker (the session,
 * the managed-settings preview, pool state) or forwards an AdminCall to the primary exactly as the
 * admin API does (lib/admin/routes.ts), so caps, sign-outs and reports run the same code, write
 * the same `admin_audit` rows and emit the same audit events; the actor is `oidc:<sub>`, as for an
 * administrator's bearer.
 *
 * Refusals (JSON, Anthropic error envelope): 401 without a live session (none, expired, signed out
 * or revoked); 403 for a person no longer in an admin group, for a change without the session's
 * CSRF token (`x-csrf-token`) or from another site, and for any change by a read-only
 * administrator — enforced here, and again by the primary (`canWrite: false`).
 */
import type { HttpResponse } from 'uWebSockets.js'
import type { AdminCall, AdminReply } from '../admin/call.js'
import type { SealKey } from '../auth/seal.js'
import { GatewayError, type GatewayErrorCode } from '../errors.js'
import { callPrimary } from '../ipc.js'
import { audit, describeError, ops } from '../log.js'
import { readBody } from '../http/body.js'
import { parseQuery, type Req } from '../http/request.js'
import { send, sendError } from '../http/respond.js'
import type { Router } from '../http/router.js'
import { enableRecorder } from '../telemetry/metrics.js'
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { VERSION } from '../version.js'
import { CHANGES, type ConsoleSession, type CookieJar, CSRF_REFUSED, csrfOk, readSession, type Role, roleOf } from './session.js'

/**
 * The longest body a console call may carry. The console's changes are small JSON (a cap, a
 * sign-out); the body is read before the session cookie is checked (uWS wants the reader set up
 * at once), so an unauthenticated sender must not get the proxy's `max_request_bytes` held for it.
 */
export const CONSOLE_MAX_BODY = 64 * 1024

const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-security-policy': CSP } as const

type Target = { base: NonNullable<AdminCall['base']> | 'console', path: string } | 'session' | 'preview' | 'upstreams'

/** Which call a console path and method stand for, or null (404). */
export function route (method: string, sub: string): Target | null {
  if (sub === '/session' && method === 'GET') return 'session'
  if (sub === '/preview' && method === 'GET') return 'preview'
  if (sub === '/upstreams' && method === 'GET') return 'upstreams'
  const get = method === 'GET'
  switch (sub) {
    case '/overview': case '/people': case '/audit': case '/analytics': return get ? { base: 'console', path: sub } : null
    case '/spend_report': return get ? { base: 'spend_report', path: '' } : null
    case '/usage': return get ? { base: 'usage_report', path: '/messages' } : null
    case '/claude_code': return get ? { base: 'usage_report', path: '/claude_code' } : null
    case '/cost': return get ? { base: 'cost_report', path: '' } : null
    case '/principals': return get ? { base: 'principals', path: '' } : null
    case '/sign_out': return method === 'POST' ? { base: 'principals', path: '/sign_out' } : null
    case '/caps': return get || method === 'POST' ? { base: 'spend_limits', path: '' } : null
    case '/caps/effective': return get ? { base: 'spend_limits', path: '/effective' } : null
  }
  if (sub.startsWith('/caps/') && (get || method === 'DELETE')) return { base: 'spend_limits', path: sub.slice(5) }
  return null
}

export function registerConsoleApi (router: Router, ctx: WorkerContext, svc: Services, o: { keys: readonly SealKey[], jar: CookieJar }): void {
  // Per-upstream figures for the Upstreams page (lib/console/stats.ts keeps them on the primary).
  enableRecorder()
  const maxBody = Math.min(ctx.config.limits.max_request_bytes, CONSOLE_MAX_BODY)
  const out = (res: HttpResponse, rq: Req, status: number, value: unknown, extra?: Record<string, string>): void => {
    // A report answers with its JSON text already written (lib/reports/json.ts), as sendJson takes it.
    send(res, rq, status, typeof value === 'string' ? value : JSON.stringify(value), { ...JSON_HEADERS, ...extra })
  }
  // Refusals go through the one renderer (lib/http/respond.ts sendError) with a registry code.
  const error = (res: HttpResponse, rq: Req, code: GatewayErrorCode, message: string, extra?: Record<string, string>): void => {
    sendError(res, rq, new GatewayError(code, message), { headers: { ...JSON_HEADERS, ...extra } })
  }

  router.under('*', '/console/api', async (res, rq) => {
    const hasBody = rq.headers['content-length'] !== undefined && rq.headers['content-length'] !== '0'
    const bodyP = hasBody ? readBody(res, rq, maxBody) : Promise.resolve(null)
    bodyP.catch(() => {})
    const target = route(rq.method, rq.path.slice('/console/api'.length))
    const sess = await readSession(o.keys, o.jar, rq)
    if (sess === null) { error(res, rq, 'GW_AUTH_MISSING', 'not signed in to the console: open /console/login'); return }
    try {
      svc.sessions.verify(sess.t)
    } catch {
      audit('console.denied', { request_id: rq.id, reason: 'session_ended', sub: sess.sub, path: rq.path })
      error(res, rq, 'GW_AUTH_REVOKED', 'your console session has ended (signed out, revoked or expired): sign in again', { 'set-cookie': o.jar.clear(o.jar.session, 'Strict') })
      return
    }
    const role = roleOf(ctx.config, sess.groups)
    if (role === null) { error(res, rq, 'GW_FORBIDDEN', 'you are no longer in admin.admin_groups or admin.read_only_groups'); return }
    if (CHANGES.has(rq.method)) {
      const site = rq.headers['sec-fetch-site']
      if (!csrfOk(sess, rq) || (site !== undefined && site !== 'same-origin')) {
        audit('console.denied', { request_id: rq.id, reason: 'csrf', sub: sess.sub, method: rq.method, path: rq.path })
        error(res, rq, 'GW_FORBIDDEN', CSRF_REFUSED)
        return
      }
      if (role !== 'admin') {
        audit('console.denied', { request_id: rq.id, reason: 'read_only', sub: sess.sub, method: rq.method, path: rq.path })
        error(res, rq, 'GW_FORBIDDEN', 'read-only administrators cannot change anything')
        return
      }
    }
    if (target === null) { error(res, rq, 'GW_NOT_FOUND', `no console endpoint ${rq.method} ${rq.path}`); return }
    if (target === 'session') { out(res, rq, 200, sessionJson(sess, role, ctx)); return }
    if (target === 'preview') { out(res, rq, 200, preview(svc, parseQuery(rq.query))); return }
    let body: Buffer | null
    try {
      body = await bodyP
    } catch (err) {
      if (err instanceof GatewayError) sendError(res, rq, err, { headers: JSON_HEADERS })
      else error(res, rq, 'GW_BAD_REQUEST', describeError(err))
      return
    }
    const actor = `oidc:${sess.sub}`
    let r: AdminReply
    try {
      if (target === 'upstreams' || target.base === 'console') {
        // The console's own read-only queries (lib/console/primary.ts).
        r = await callPrimary('console.query', { path: target === 'upstreams' ? '/upstreams' : target.path, query: target === 'upstreams' ? '' : rq.query }, 10_000)
      } else {
        const call: AdminCall = { base: target.base, method: rq.method, path: target.path, query: rq.query, body: body === null ? null : body.toString('utf8'), actor, canWrite: role === 'admin' }
        r = await callPrimary('admin.call', call, 10_000)
      }
    } catch (err) {
      ops.warn(`console ${rq.method} ${rq.path} failed (${rq.id}): ${describeError(err)}`)
      error(res, rq, 'GW_STORE_UNAVAILABLE', 'store unavailable')
      return
    }
    if ('error' in r) { error(res, rq, r.error, r.message); return }
    out(res, rq, 200, target === 'upstreams' ? { ...(r.json as object), ...localUpstreams(ctx, svc) } : r.json)
  })
}

function sessionJson (s: ConsoleSession, role: Role, ctx: WorkerContext): unknown {
  return {
    user: { user_id: s.sub, email: s.email, name: s.name, groups: s.groups },
    role,
    csrf_token: s.c,
    version: VERSION,
    upstreams: ctx.config.upstreams.map((u) => u.name ?? u.provider),
  }
}

/** Configured upstreams and this worker's pool health (cooldowns, half-open probes, in flight). */
function localUpstreams (ctx: WorkerContext, svc: Services): Record<string, unknown> {
  return {
    configured: ctx.config.upstreams.map((u) => ({ name: u.name ?? u.provider, provider: u.provider })),
    pools: svc.pools?.snapshot() ?? [],
  }
}

/** The managed policy and settings a person with this email and these groups would receive. */
function preview (svc: Services, q: URLSearchParams): unknown {
  const email = q.get('email') ?? ''
  const groups = (q.get('groups') ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '')
  if (!svc.policy.configured) return { email, groups, policy: null, message: 'no managed settings are configured on this gateway' }
  const now = Math.floor(Date.now() / 1000)
  const m = svc.policy.match({ sub: 'preview', email: email === '' ? undefined : email, name: undefined, groups, iat: now, exp: now + 60 })
  if (m === null) return { email, groups, policy: null, message: 'no managed policy applies to this person' }
  return { email, groups, policy: { index: m.index, indexes: m.indexes, checksum: m.checksum }, settings: JSON.parse(m.body) }
}
