/**
 * Boot warnings: settings that are valid but probably not what the operator wants. Computed from
 * the resolved config (and the environment, for the proxy check); no network access, so checks
 * that need the IdP's metadata or the database happen elsewhere at boot.
 *
 * Warnings about sections in NOT_SUPPORTED_YET cannot fire today (such files do not load); they are
 * here so they start working when the section is implemented.
 */
import type { Path } from './locate.js'
import type { Config } from './schema.js'
import { LOOPBACK_HOSTS } from './schema/urls.js'

/** One warning, anchored at a key path. */
export interface ConfigWarning { readonly path: Path, readonly message: string }

const GOOGLE_ISSUER = 'accounts.google.com'

function hostOf (url: string): string {
  try { return new URL(url).hostname.toLowerCase() } catch { return '' }
}

/** True when `host` is covered by a NO_PROXY list (comma/space separated, `*`, suffix rules). */
export function noProxyCovers (noProxy: string, host: string): boolean {
  return noProxy.split(/[\s,]+/).filter(Boolean).some(raw => {
    const rule = raw.toLowerCase().replace(/:\d+$/, '')
    if (rule === '*') return true
    const bare = rule.replace(/^\*?\./, '')
    return host === bare || host.endsWith('.' + bare)
  })
}

function oidcWarnings (c: Config, env: NodeJS.ProcessEnv): ConfigWarning[] {
  const o = c.oidc
  const out: ConfigWarning[] = []
  if (o === undefined) return out
  const host = hostOf(o.issuer)
  const google = host === GOOGLE_ISSUER
  if (google) {
    if (o.extra_auth_params.access_type !== 'offline' || o.extra_auth_params.prompt !== 'consent') {
      out.push({ path: ['oidc', 'extra_auth_params'], message: 'Google issues refresh tokens only with extra_auth_params access_type: offline and prompt: consent; without them developers sign in again every session' })
    }
    if (o.scopes.includes('offline_access')) {
      out.push({ path: ['oidc', 'scopes'], message: 'Google does not accept the offline_access scope; leave it out and use extra_auth_params access_type: offline instead' })
    }
    if (o.allowed_groups !== undefined && o.google_groups === undefined) {
      out.push({ path: ['oidc', 'allowed_groups'], message: 'Google id_tokens carry no groups, so allowed_groups refuses everyone unless oidc.google_groups is set' })
    }
  } else {
    if (!o.scopes.includes('offline_access')) {
      out.push({ path: ['oidc', 'scopes'], message: 'offline_access is not requested, so the IdP may issue no refresh token and sessions end after session.ttl_hours' })
    }
    if (o.google_groups !== undefined) {
      out.push({ path: ['oidc', 'google_groups'], message: `google_groups only works with the Google issuer (https://${GOOGLE_ISSUER}); with this issuer every sign-in is refused` })
    }
  }
  const proxy = env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy ?? ''
  if (o.use_proxy === undefined && proxy !== '' && !noProxyCovers(env.NO_PROXY ?? env.no_proxy ?? '', host)) {
    out.push({ path: ['oidc', 'issuer'], message: 'a proxy is set in the environment but IdP requests go direct; set oidc.use_proxy to true to use the proxy, or false to silence this warning' })
  }
  if (connectByHostname(env)) {
    if (o.use_proxy !== true || proxy === '') {
      out.push({ path: ['oidc', 'use_proxy'], message: 'CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME is set but has no effect: IdP requests go direct; it needs oidc.use_proxy: true and HTTPS_PROXY naming your forward proxy' })
    } else {
      out.push({ path: ['oidc', 'use_proxy'], message: 'CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME is on: IdP hostnames outside NO_PROXY go to the proxy unresolved, so the proxy\'s allowlist replaces Weir\'s own address check for them; let the proxy allow only the IdP\'s hosts and refuse names that resolve to loopback, link-local, unspecified or metadata addresses. http:// IdP endpoints are refused through the proxy' })
    }
  }
  return out
}

/** `CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME` is on (any value but empty, `0` or `false`). */
export function connectByHostname (env: NodeJS.ProcessEnv): boolean {
  const v = (env.CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME ?? '').trim().toLowerCase()
  return v !== '' && v !== '0' && v !== 'false'
}

/** The notice every start prints: the gateway pushes settings that run commands on developer machines. */
export const EXPOSURE_NOTICE: readonly string[] = Object.freeze([
  'Weir pushes managed settings that can run commands on developer machines.',
  'Keep it on a private network: never expose it to the public internet.',
])

/**
 * The notice as printed at every start: a box for text logs, one line (for a WARNING) when the
 * logs are read by machines (`CLAUDE_GATEWAY_LOG_FORMAT=json`).
 */
export function exposureNotice (env: NodeJS.ProcessEnv): { box: string } | { line: string } {
  if ((env.CLAUDE_GATEWAY_LOG_FORMAT ?? '').toLowerCase() === 'json') return { line: EXPOSURE_NOTICE.join(' ') }
  const width = Math.max(...EXPOSURE_NOTICE.map(l => l.length)) + 4
  const row = (l: string): string => `\u2502  ${l.padEnd(width - 2)}\u2502\n`
  return { box: `\n\u250c${'\u2500'.repeat(width)}\u2510\n${EXPOSURE_NOTICE.map(row).join('')}\u2514${'\u2500'.repeat(width)}\u2518\n` }
}

/** Every boot warning for `c`. */
export function configWarnings (c: Config, env: NodeJS.ProcessEnv): ConfigWarning[] {
  const out: ConfigWarning[] = []
  const pub = c.listen.public_url
  if (pub !== undefined && pub.startsWith('http:') && !LOOPBACK_HOSTS.has(new URL(pub).hostname)) {
    out.push({ path: ['listen', 'public_url'], message: 'public_url is http:// on a non-loopback host; Claude Code accepts http:// only for loopback, so use https://' })
  }
  out.push(...oidcWarnings(c, env))
  const identity = c.upstreams.flatMap((u, i) => u.provider === 'anthropic' && u.forward_user_identity === true ? [[u.name, i] as const] : [])
  for (const [name, i] of identity) {
    out.push({ path: ['upstreams', i, 'forward_user_identity'], message: `upstream '${name}' sends each developer's email and subject to its base_url` })
  }
  if (c.telemetry.forward_to.length > 0 && pub === undefined) {
    out.push({ path: ['telemetry', 'forward_to'], message: 'telemetry.forward_to is set but listen.public_url is not, so clients are not told to export OTLP here' })
  }
  if (c.telemetry.forward_to.length === 0 && Object.keys(c.telemetry.resource_attributes ?? {}).length > 0) {
    out.push({ path: ['telemetry', 'resource_attributes'], message: 'telemetry.resource_attributes is set but telemetry.forward_to is empty, so the labels are not applied' })
  }
  const policies = c.managed?.policies ?? []
  const catchAll = policies.findIndex(p => p.match.groups === undefined && p.match.email_domain === undefined && p.match.emails === undefined)
  if (catchAll >= 0 && catchAll !== policies.length - 1) {
    out.push({ path: ['managed', 'policies', catchAll], message: 'this catch-all policy (match: {}) is not the last one, so the policies after it never match; move it to the end' })
  }
  if (c.load_test_mode?.enabled === true) {
    out.push({ path: ['load_test_mode', 'enabled'], message: 'load_test_mode is on: every model request is answered with a canned reply and none is sent upstream (credential calls such as AWS STS still are); turn it off and restart before developers use this gateway' })
  }
  out.push(...criWarnings(c))
  for (const [i, p] of (c.upstream_pools ?? []).entries()) {
    const providers = [...new Set(p.members.map(m => c.upstreams.find(u => u.name === m.upstream)?.provider).filter(x => x !== undefined))]
    if (providers.length > 1) {
      out.push({ path: ['upstream_pools', i, 'members'], message: `pool '${p.name}' mixes providers (${providers.join(', ')}): Weir strips other providers' thinking signatures, refused betas and refused body fields when a request crosses providers, but turns answered elsewhere during a cooldown return to the session's home provider as they are, and the home may refuse them (the client then recovers by dropping thinking); prefer pools of one provider` })
    }
  }
  return out
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Customer-routed inference: an inert block, odd organisation ids, sections a CRI-only gateway never uses. */
function criWarnings (c: Config): ConfigWarning[] {
  const out: ConfigWarning[] = []
  if (c.cri === undefined) return out
  if (!c.cri.enabled) {
    out.push({ path: ['cri'], message: 'the cri block has no effect while cri.enabled is false' })
    return out
  }
  c.cri.org_allowlist.forEach((org, i) => {
    if (!UUID.test(org)) out.push({ path: ['cri', 'org_allowlist', i], message: `'${org}' does not look like an Anthropic organization UUID, so no token is likely to carry it` })
  })
  if (c.oidc === undefined) {
    for (const k of ['managed', 'admin', 'pricing'] as const) {
      if (c[k] !== undefined) out.push({ path: [k], message: `${k} has no effect on a gateway without oidc: customer-routed requests are neither matched to managed policies nor metered` })
    }
  }
  return out
}
