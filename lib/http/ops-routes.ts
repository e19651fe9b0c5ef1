/**
 * Routes every worker serves whatever else is configured: liveness, readiness, the landing page,
 * `/protocol`, and the RFC 8414 discovery document.
 */
import { storePing } from '../store/client.js'
import { VERSION } from '../version.js'
import type { WorkerContext } from '../worker-context.js'
import { baseUrl } from './base-url.js'
import { PROTOCOL_MARKDOWN } from './protocol-page.js'
import { escapeHtml, fail, htmlHeaders, send, sendJson } from './respond.js'
import type { Router } from './router.js'

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }

export function registerOpsRoutes (router: Router, ctx: WorkerContext): void {
  const publicUrl = ctx.config.listen.public_url
  const tls = ctx.config.listen.tls !== undefined

  router.on(['GET', 'HEAD'], '/healthz', (res, rq) => { send(res, rq, 200, 'ok', TEXT) })

  // `store.readiness_grace_seconds`: stay ready through a short store outage (sessions keep working
  // without the store; only new sign-ins and spend writes wait), so a blip does not pull every replica.
  const graceMs = ctx.config.store.readiness_grace_seconds * 1000
  let lastOk = 0
  router.on(['GET', 'HEAD'], '/readyz', async (res, rq) => {
    try {
      await storePing()
      lastOk = Date.now()
      send(res, rq, 200, 'ready', TEXT)
    } catch {
      if (graceMs > 0 && lastOk > 0 && Date.now() - lastOk < graceMs) send(res, rq, 200, 'ready (store unreachable, within grace)', TEXT)
      else fail(res, rq, 'GW_STORE_UNAVAILABLE')
    }
  })

  router.on('GET', '/', (res, rq) => {
    const base = baseUrl(rq, publicUrl, tls)
    const idp = ctx.boot.oidc === null ? 'not configured' : new URL(ctx.boot.oidc.issuer).host
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Weir</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .25rem}dt{font-weight:600}</style></head>
<body><h1>Weir</h1><p>A Claude Code gateway is running at <code>${escapeHtml(base)}</code>.</p>
<p>Developers connect with <code>/login</code> in Claude Code once their machine's managed settings name this URL in <code>forceLoginGatewayUrl</code>.</p>
<dl><dt>Identity provider</dt><dd>${escapeHtml(idp)}</dd>
<dt>Discovery</dt><dd><a href="/.well-known/oauth-authorization-server">/.well-known/oauth-authorization-server</a></dd>
<dt>Protocol</dt><dd><a href="/protocol">/protocol</a></dd>
<dt>Version</dt><dd>${escapeHtml(VERSION)}</dd></dl></body></html>`
    send(res, rq, 200, html, htmlHeaders())
  })

  router.on('GET', '/protocol', (res, rq) => {
    const text = PROTOCOL_MARKDOWN.replaceAll('{base}', baseUrl(rq, publicUrl, tls)).replaceAll('{version}', VERSION)
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
    }, { 'cache-control': 'no-store' })
  })
}
