/**
 * Outbound HTTP proxies from the environment (`HTTPS_PROXY`/`https_proxy` for https targets,
 * `HTTP_PROXY`/`http_proxy` for http, `NO_PROXY`/`no_proxy` exceptions), as operators expect from
 * any server process.
 */
import { noProxyCovers } from '../config/warnings.js'

/** The proxy URL to use for `target`, or null for a direct connection. */
export function proxyFor (target: URL, env: NodeJS.ProcessEnv = process.env): string | null {
  const https = target.protocol === 'https:'
  const proxy = https
    ? env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy
    : env.HTTP_PROXY ?? env.http_proxy
  if (proxy === undefined || proxy === '') return null
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? ''
  if (noProxy !== '' && noProxyCovers(noProxy, target.hostname.toLowerCase())) return null
  return proxy
}
