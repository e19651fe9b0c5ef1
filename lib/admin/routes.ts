/**
 * HTTP side of the admin API (the spend-limits API, Weir's `principals` and `spend_report`
 * extensions, and the usage and cost reports of lib/reports/) and of `GET /api/oauth/usage`, on every worker. Served only when `admin:` is
 * configured; otherwise these paths fall through to the ordinary 404.
 *
 * Admin credentials, checked here before anything reaches the primary:
 *   - an `x-api-key` header, if present and non-empty, is the only credential considered: a
 *     `write_keys` entry may do everything, a `read_keys` entry only GET (compared in constant
 *     time against every key, so timing does not tell which matched);
 *   - otherwise a gateway session bearer whose groups meet `admin.admin_groups` may do everything.
 * Credentials come from the headers alone, before a byte of body is read; a refusal closes the
 * connection. A refusal is a 401 and an `admin.denied` audit event saying why (never the key itself). The
 * request then goes to the primary (lib/admin/service.ts), which owns the database. Every answer
 * carries `request-id: req_<32 hex>`, and error bodies the same value as `request_id`, in the
 * Anthropic envelope.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { HttpResponse } from 'uWebSockets.js'
import { ERRORS, GatewayError, type GatewayErrorCode } from '../errors.js'
import { callPrimary } from '../ipc.js'
import { audit, describeError, ops } from '../log.js'
import { readBody } from '../http/body.js'
import type { Req } from '../http/request.js'
import { sendError, sendJson } from '../http/respond.js'
import { clientIp, type Router } from '../http/router.js'
import { CidrList } from '../net/cidr.js'
import type { Services } from '../services.js'
import { COST_REPORT_PREFIX, USAGE_REPORT_PREFIX } from '../reports/service.js'
import { SPEND_RPC } from '../spend/link.js'
import type { WorkerContext } from '../worker-context.js'
import type { AdminCall, AdminReply } from './call.js'
import { BoundedCache } from '../cache.js'

export const ADMIN_PREFIX = '/v1/organizations/spend_limits'
/** Weir extensions served with the same credentials: people (lookup, sign-out) and the spend report. */
export const PRINCIPALS_PREFIX = '/v1/organizations/principals'
export const REPORT_PREFIX = '/v1/organizations/spend_report'
const USAGE_CACHE_MS = 2000

interface Key { id: string, key: Buffer }

/** The key among `keys` equal to `presented` (all compared, constant time each), or undefined. */
function matchKey (presented: Buffer, keys: readonly Key[]): string | undefined {
  let found: string | undefined
  for (const k of keys) if (k.key.length === presented.length && timingSafeEqual(k.key, presented)) found = k.id
  return found
}

export function registerSpendRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  const admin = ctx.config.admin
  if (admin === undefined) return
  const writeKeys = admin.write_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key) }))
  const readKeys = admin.read_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key) }))
  const adminGroups = new Set(admin.admin_groups)
  const trusted = new CidrList(ctx.config.listen.trusted_proxies)
  const maxBody = ctx.config.limits.max_request_bytes

  const reply = (res: HttpResponse, rq: Req, rid: string, r: AdminReply | { error: GatewayErrorCode, message: string }): void => {
    if ('json' in r) {
      sendJson(res, rq, 200, r.json, rq.method === 'GET' ? { 'request-id': rid, 'cache-control': 'no-store' } : { 'request-id': rid })
    } else {
      sendError(res, rq, new GatewayError(r.error, r.message), { requestId: rid, headers: { 'request-id': rid } })
    }
    ops.info(`admin ${rq.method} ${rq.path} -> ${'json' in r ? 200 : ERRORS[r.error].status} (${rid})`)
  }

  /** Who is calling, or why not. */
  const credentials = (rq: Req): { actor: string, canWrite: boolean } | { reason: string } => {
    const key = rq.headers['x-api-key']
    if (key !== undefined && key !== '') {
      const k = Buffer.from(key)
      const w = matchKey(k, writeKeys)
      if (w !== undefined) return { actor: `admin-key:${w}`, canWrite: true }
      const r = matchKey(k, readKeys)
      if (r !== undefined) return { actor: `admin-key:${r}`, canWrite: false }
      return { reason: 'invalid_key' }
    }
    if (rq.headers.authorization === undefined) return { reason: 'no_credentials' }
    try {
      const p = svc.sessions.authenticate(rq)
      if (p.groups.some((g) => adminGroups.has(g))) return { actor: `oidc:${p.sub}`, canWrite: true }
    } catch { /* an invalid bearer is refused like a non-admin one */ }
    return { reason: 'bearer_rejected' }
  }

  const serve = (prefix: string, base: NonNullable<AdminCall['base']>) => (res: HttpResponse, rq: Req): Promise<void> | undefined => {
    const rid = `req_${randomUUID().replace(/-/g, '')}`
    const hasBody = rq.headers['content-length'] !== undefined || rq.headers['transfer-encoding'] !== undefined
    const who = credentials(rq)
    if ('reason' in who) {
      // Refused from the headers alone: no body byte is read, and the connection closes.
      audit('admin.denied', { reason: who.reason, method: rq.method, path: rq.path, client_ip: clientIp(rq, trusted) })
      reply(res, rq, rid, { error: 'GW_ADMIN_AUTH', message: 'missing or invalid admin credentials' })
      return
    }
    const bodyP = hasBody ? readBody(res, rq, maxBody) : Promise.resolve(null)
    return bodyP.then(async (body) => {
      const call: AdminCall = { base, method: rq.method, path: rq.path.slice(prefix.length), query: rq.query, body: body === null ? null : body.toString('utf8'), actor: who.actor, canWrite: who.canWrite }
      let r: AdminReply
      try {
        r = await callPrimary('admin.call', call, 10_000)
      } catch (err) {
        ops.warn(`admin ${rq.method} ${rq.path} failed (${rid}): ${describeError(err)}`)
        reply(res, rq, rid, { error: 'GW_STORE_UNAVAILABLE', message: 'store unavailable' })
        return
      }
      reply(res, rq, rid, r)
    }, (err: unknown) => {
      // A body refusal (411/413/408/529, a length mismatch) keeps its own code and envelope.
      if (err instanceof GatewayError) sendError(res, rq, err, { requestId: rid, headers: { 'request-id': rid } })
      else sendError(res, rq, err)
    })
  }
  router.under('*', ADMIN_PREFIX, serve(ADMIN_PREFIX, 'spend_limits'))
  router.under('*', PRINCIPALS_PREFIX, serve(PRINCIPALS_PREFIX, 'principals'))
  router.under('*', REPORT_PREFIX, serve(REPORT_PREFIX, 'spend_report'))
  router.under('*', USAGE_REPORT_PREFIX, serve(USAGE_REPORT_PREFIX, 'usage_report'))
  router.under('*', COST_REPORT_PREFIX, serve(COST_REPORT_PREFIX, 'cost_report'))

  const cache = new BoundedCache<string, { at: number, body: Promise<unknown> }>(10_000)
  router.on('GET', '/api/oauth/usage', async (res, rq) => {
    const p = svc.sessions.authenticate(rq)
    const now = Date.now()
    const key = `${p.sub}\u0000${p.groups.join('\u0000')}`
    let hit = cache.get(key)
    if (hit === undefined || now - hit.at >= USAGE_CACHE_MS) {
      hit = { at: now, body: callPrimary(SPEND_RPC.usage, { sub: p.sub, groups: [...p.groups] }, 3000) }
      hit.body.catch(() => { cache.delete(key) })
      cache.set(key, hit)
    }
    try {
      sendJson(res, rq, 200, await hit.body, { 'cache-control': 'no-store' })
    } catch (err) {
      ops.warn(`GET /api/oauth/usage: spend store read failed: ${describeError(err)} request_id=${rq.id}`)
      sendError(res, rq, new GatewayError('GW_STORE_UNAVAILABLE', 'spend limit unavailable'))
    }
  })
}
