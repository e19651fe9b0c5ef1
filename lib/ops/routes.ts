/**
 * Routes every worker serves whatever else is configured: liveness, readiness, the landing page,
 * `/protocol`, and the RFC 8414 discovery document. `/readyz` adds the last config reload's
 * failure or pending-restart keys to its body (lib/config/reload-state.ts) without changing status.
 */
import { htmlPage, withLogo } from '../auth/pages.js'
import { readinessDetail } from '../config/reload-state.js'
import { storePing } from '../store/client.js'
import { VERSION } from '../version.js'
import type { WorkerContext } from '../worker-context.js'
import { baseUrl } from '../http/base-url.js'
import { CRI_PROTOCOL_MARKDOWN, PROTOCOL_MARKDOWN } from './protocol-page.js'
import { escapeHtml, fail, htmlHeaders, send, sendJson } from '../http/respond.js'
import type { Router } from '../http/router.js'

/** How often each worker pings the store for /readyz. */
const PING_EVERY_MS = 1000

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }

export function registerOpsRoutes (router: Router, ctx: WorkerContext): void {
  const publicUrl = ctx.config.listen.public_url
  const tls = ctx.config.listen.tls !== undefined
  const cri = ctx.config.cri?.enabled === true
  const protocol = cri ? PROTOCOL_MARKDOWN + CRI_PROTOCOL_MARKDOWN : PROTOCOL_MARKDOWN

  router.on(['GET', 'HEAD'], '/healthz', (res, rq) => { send(res, rq, 200, 'ok', TEXT) })

  // Both probes answer synchronously: a health checker may pipeline them, and uWS drops a request
  // pipelined behind one still awaiting. /readyz reports the store state a per-worker pinger keeps
  // (at most PING_EVERY_MS + the ping's own deadline old). The worker starts ready: the primary
  // reached the store and migrated it just before starting it.
  // `store.readiness_grace_seconds`: stay ready through a short store outage (sessions keep working
  // without the store; only new sign-ins and spend writes wait), so a blip does not pull every replica.
  const graceMs = ctx.config.store.readiness_grace_seconds * 1000
  const store = { ok: true, lastOk: Date.now(), pinging: false }
  const ping = (): void => {
    if (store.pinging) return
    store.pinging = true
    storePing().then(() => { store.ok = true; store.lastOk = Date.now() }, () => { store.ok = false })
      .finally(() => { store.pinging = false })
  }
  const pinger = setInterval(ping, PING_EVERY_MS)
  pinger.unref()
  router.own(() => { clearInterval(pinger) })
  // A failed config reload leaves the replica serving its last good config: ready, with the detail.
  router.on(['GET', 'HEAD'], '/readyz', (res, rq) => {
    if (store.ok) send(res, rq, 200, `ready${readinessDetail()}`, TEXT)
    else if (graceMs > 0 && Date.now() - store.lastOk < graceMs) send(res, rq, 200, `ready (store unreachable, within grace)${readinessDetail()}`, TEXT)
    else fail(res, rq, 'GW_STORE_UNAVAILABLE')
  })

  router.on('GET', '/', (res, rq) => {
    const base = baseUrl(rq, publicUrl, tls)
    const idp = ctx.boot.oidc === null ? 'not configured' : new URL(ctx.boot.oidc.issuer).host
    const brand = ctx.config.listen.branding
    const html = htmlPage('Claude Code gateway', `<h1>Claude Code gateway</h1>` +
      `<p class="muted">This is Weir, the gateway between Claude Code and the model providers${brand?.organization_name === undefined ? '' : ` for ${escapeHtml(brand.organization_name)}`}. It signs developers in and forwards their requests; there is nothing to do here in a browser.</p>` +
      `<p>In Claude Code, run <code>/login</code> and choose the gateway. It is offered once this machine's managed settings name <code>${escapeHtml(base)}</code> in <code>forceLoginGatewayUrl</code>; ask your administrator if it is not.</p>` +
      `<dl><dt>Gateway URL</dt><dd><code>${escapeHtml(base)}</code></dd>` +
      `<dt>Identity provider</dt><dd>${escapeHtml(idp)}</dd>` +
      `<dt>Protocol</dt><dd><a href="/protocol">/protocol</a> (what clients and tools can call)</dd>` +
      `<dt>Discovery</dt><dd><a href="/.well-known/oauth-authorization-server">/.well-known/oauth-authorization-server</a></dd>` +
      `<dt>Version</dt><dd>Weir ${escapeHtml(VERSION)}</dd></dl>`, { brand, site: 'Weir' })
    send(res, rq, 200, html, htmlHeaders(withLogo("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'", brand)))
  })

  router.on('GET', '/protocol', (res, rq) => {
    const text = protocol.replaceAll('{base}', baseUrl(rq, publicUrl, tls)).replaceAll('{version}', VERSION)
    send(res, rq, 200, text, { 'content-type': 'text/markdown; charset=utf-8' })
  })

  router.on('*', '/.well-known/oauth-authorization-server', (res, rq) => {
    const base = baseUrl(rq, publicUrl, tls)
    const signIn = ctx.boot.oidc !== null
    sendJson(res, rq, 200, {
      issuer: base,
      ...(signIn ? { device_authorization_endpoint: `${base}/oauth/device_authorization`, token_endpoint: `${base}/oauth/token`, revocation_endpoint: `${base}/oauth/revoke` } : {}),
      grant_types_supported: signIn ? ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] : [],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      ...(signIn ? { revocation_endpoint_auth_methods_supported: ['none'] } : {}),
      scopes_supported: ['openid', 'profile', 'email'],
      gateway_protocol_version: 1,
      ...(cri ? { cri_enabled: true } : {}),
    }, { 'cache-control': 'no-store' })
  })
}
