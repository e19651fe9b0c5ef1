/**
 * The gateway's own base URL (`{base}` in the protocol): `listen.public_url` when configured,
 * otherwise — only possible on a loopback listener — the origin the request was sent to.
 * Forwarded-host headers are never consulted: on a non-loopback listener `public_url` is
 * mandatory, precisely so that IdP redirects and token issuers cannot come from a client header.
 */
import type { Req } from './request.js'

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/

/** `public_url` without a trailing slash, or the request's origin. */
export function baseUrl (rq: Req, publicUrl: string | undefined, tls: boolean): string {
  if (publicUrl !== undefined) return publicUrl.replace(/\/$/, '')
  const host = rq.headers.host
  const safe = host !== undefined && HOST.test(host) ? host : 'localhost'
  return `${tls ? 'https' : 'http'}://${safe}`
}
