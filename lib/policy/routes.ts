/**
 * Bearer routes driven by the managed policies:
 *
 * - `/managed/settings` (any method): `{uuid, checksum, settings}` for the caller's policy, with
 *   the quoted checksum as ETag and `304` only for an `If-None-Match` equal to it. A `404`
 *   (no policy configured, none matches, or the policy is not served to Claude Desktop sessions)
 *   carries `Cache-Control: no-store`, which together with `x-cc-gateway-version` tells a Claude
 *   Desktop session "nothing for you", so it starts without a warning. The Desktop Code tab's
 *   `If-None-Match: *` probe is answered as if the header were absent, except for a policy under
 *   `code`: its settings must not be missing, so the answer is `304` with `no-store`, and a
 *   session that cannot take them does not start.
 * - `GET /user/bootstrap`: Claude Desktop's configuration (lib/policy/bootstrap.ts).
 * - `GET /v1/models`: the models the caller may request, in the Anthropic list shape.
 */
import { audit, ops } from '../log.js'
import { bootstrapBody } from './bootstrap.js'
import { type CompiledPolicy, isDesktopSession } from './index.js'
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { baseUrl } from '../http/base-url.js'
import { fail, send, sendEmpty, sendJson } from '../http/respond.js'
import type { Router } from '../http/router.js'

const VARY = { vary: 'User-Agent' } as const
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const
const SETTINGS_HEADERS = { 'content-type': 'application/json', ...VARY } as const

export function registerManagedRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  const { policy } = svc
  const publicUrl = ctx.config.listen.public_url
  const tls = ctx.config.listen.tls !== undefined
  const adminGroups = new Set(ctx.config.admin?.admin_groups ?? [])

  router.on('*', '/managed/settings', (res, rq) => {
    const p = svc.sessions.authenticate(rq)
    const gone: Record<string, string> = { ...VARY, ...NO_STORE }
    if (!policy.configured) { fail(res, rq, 'GW_NOT_FOUND', 'no managed settings are configured on this gateway', gone); return }
    const m = policy.match(p)
    if (m === null) {
      ops.warn(`no managed policy matched for sub=${p.sub} (groups: ${p.groups.join(',') || 'none'}) request_id=${rq.id}`)
      fail(res, rq, 'GW_NOT_FOUND', 'no managed policy applies to you', gone)
      return
    }
    if (isDesktopSession(rq.headers['user-agent']) && !m.servesDesktopSessions) {
      if (m.serveToDesktop !== false) ops.info(`managed policy ${m.index} not served to a Claude Desktop session for sub=${p.sub}: its settings are not under code (or serve_to_desktop: true) request_id=${rq.id}`)
      fail(res, rq, 'GW_NOT_FOUND', 'this managed policy is not served to Claude Desktop sessions', gone)
      return
    }
    const inm = rq.headers['if-none-match']
    if (inm === '*' && m.underCode && m.servesDesktopSessions) {
      ops.info(`Claude Desktop Code tab refused for sub=${p.sub}: managed policy ${m.index} has code settings this machine does not take; name this gateway in the machine's forceLoginGatewayUrl request_id=${rq.id}`)
      sendEmpty(res, rq, 304, gone)
      return
    }
    if (inm === m.etag) { sendEmpty(res, rq, 304, VARY); return }
    audit('managed.serve', { request_id: rq.id, sub: p.sub, email: p.email, policy_index: m.index, policy_indexes: m.indexes, checksum: m.checksum })
    send(res, rq, 200, m.body, { ...SETTINGS_HEADERS, etag: m.etag })
  })

  router.on('GET', '/user/bootstrap', (res, rq) => {
    const p = svc.sessions.authenticate(rq)
    const denied = (reason: string, message: string): void => {
      audit('desktop_bootstrap.denied', { request_id: rq.id, reason, sub: p.sub, email: p.email })
      fail(res, rq, 'GW_NOT_FOUND', message, NO_STORE)
    }
    if (!policy.desktopConfigured) { denied('not_configured', 'Claude Desktop is not set up on this gateway: add a "desktop:" block to a managed policy'); return }
    const m = policy.match(p)
    if (m === null || m.desktop === undefined) {
      ops.warn(`no Claude Desktop policy matched for sub=${p.sub} (groups: ${p.groups.join(',') || 'none'}) request_id=${rq.id}`)
      if (m === null) denied('no_policy_matched', 'no managed policy applies to you')
      else denied('policy_not_opted_in', 'the managed policy that applies to you has no "desktop:" block, so Claude Desktop is not enabled for you')
      return
    }
    const body = bootstrapBody(ctx.config, m, p, baseUrl(rq, publicUrl, tls), svc.models.list())
    const admin = p.groups.some(g => adminGroups.has(g))
    audit('desktop_bootstrap.serve', { request_id: rq.id, sub: p.sub, email: p.email, policy_index: m.index, policy_indexes: m.indexes })
    sendJson(res, rq, 200, body, { ...NO_STORE, 'x-gateway-spend-admin': String(admin) })
  })

  // The list for a given policy never changes, so render it once per policy.
  const lists = new Map<CompiledPolicy | null, string>()
  router.on('GET', '/v1/models', (res, rq) => {
    const p = svc.sessions.authenticate(rq)
    const m = policy.match(p)
    let body = lists.get(m)
    if (body === undefined) {
      const data = svc.models.list().filter(x => m === null || m.allows(x.id))
      body = JSON.stringify({ data, has_more: false, first_id: null, last_id: null })
      if (lists.size < 1024) lists.set(m, body)
    }
    sendJson(res, rq, 200, body)
  })
}
