/**
 * A real OpenID Connect provider (the `oidc-provider` package) for `weir dev` and for tests.
 *
 * It speaks the full authorization-code flow with PKCE, signs RS256 id_tokens, serves discovery,
 * JWKS, userinfo and refresh tokens — only the human part is automated: the login and consent
 * prompts complete on their own for the chosen user, so a browser (or a test's HTTP client
 * following redirects with cookies) goes straight back to the gateway. Which user signs in: the
 * `login_hint` when it names a known user, else the current user (`setUser`).
 *
 * Test controls: `denyNext()` makes the next sign-in end with `access_denied`; `disable(sub)`
 * makes the provider forget an account, so its refresh tokens stop working (offboarding);
 * `requirePkce` makes it refuse authorization requests without PKCE; `authMethods` limits the
 * client authentication methods it accepts and advertises.
 *
 * Clients whose redirect URIs are all `http://` loopback IP URLs are registered as native
 * applications, so (per RFC 8252) any port matches: a gateway started on a free port can use
 * `http://127.0.0.1/oauth/callback` as its registered redirect URI.
 *
 * Signing key: an RSA key made once per process (not oidc-provider's published quick-start keys).
 * State (sessions, grants, codes) lives in the provider's memory on purpose: restarting `weir dev`
 * means signing in again, nothing more. oidc-provider still prints its start-up warnings (Node 22
 * preferred, in-memory state); `weir dev` explains them in one line of its own.
 *
 * Loaded lazily: only `weir dev` and the tests import this module, never `weir serve`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto'
import type { AddressInfo } from 'node:net'

export interface DevUser {
  sub: string
  email: string
  email_verified?: boolean | string
  name?: string
  groups?: string[]
  /** Any extra claims to put in id_token and userinfo (released with the profile scope; name them in the initial user list). */
  extra?: Record<string, unknown>
}

export interface DevClient {
  client_id: string
  /** Not needed with private_key_jwt. */
  client_secret?: string
  redirect_uris: string[]
  /** Default client_secret_post (what a gateway picks when the IdP accepts every method). */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
  /** Public keys for private_key_jwt. */
  jwks?: { keys: Array<Record<string, unknown>> }
}

export interface DevIdpOptions {
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  users: DevUser[]
  clients: DevClient[]
  /** Leave claims other than `sub` out of the id_token (forces userinfo fallback). */
  thinIdToken?: boolean
  /** Serve HTTPS with this PEM key and certificate (the issuer becomes https://). */
  tls?: { key: string, cert: string }
  /** Refuse authorization requests that carry no PKCE code challenge. */
  requirePkce?: boolean
  /** Client authentication methods accepted and advertised at the token endpoint (default: all). */
  authMethods?: Array<'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'>
}

export interface DevIdp {
  readonly issuer: string
  readonly port: number
  /** Choose who signs in next (by email). */
  setUser (email: string): void
  /** Replace or add a user record (e.g. to change groups or email_verified). */
  upsertUser (u: DevUser): void
  /** The next sign-in ends with `error=access_denied`. */
  denyNext (): void
  /** Forget the account: its refresh tokens and sessions stop working. */
  disable (sub: string): void
  close (): Promise<void>
}

/** `http://` on a loopback IP literal (oidc-provider refuses `localhost` for native clients). */
function isLoopbackHttp (uri: string): boolean {
  try {
    const u = new URL(uri)
    return u.protocol === 'http:' && ['127.0.0.1', '[::1]'].includes(u.hostname)
  } catch {
    return false
  }
}

let signingKey: JsonWebKey | undefined
/** This process's id_token signing key (private JWK, RS256), made on first use. */
function devSigningKey (): JsonWebKey {
  signingKey ??= { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: `weir-dev-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }
  return signingKey
}

export async function startDevIdp (opts: DevIdpOptions): Promise<DevIdp> {
  const { default: Provider } = await import('oidc-provider')
  const host = opts.host ?? '127.0.0.1'
  const users = new Map<string, DevUser>(opts.users.map((u) => [u.sub, u]))
  const disabled = new Set<string>()
  // Claims named in users' `extra` are released with the profile scope.
  const extraClaims = [...new Set(opts.users.flatMap((u) => Object.keys(u.extra ?? {})))]
  let current = opts.users[0]?.sub
  let deny = false

  // Bind first so the issuer URL carries the real port.
  const server: Server = opts.tls !== undefined ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }) : createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, host, resolve) })
  const port = (server.address() as AddressInfo).port
  const issuer = `${opts.tls !== undefined ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`

  const claimsOf = (u: DevUser): Record<string, unknown> => ({
    sub: u.sub,
    email: u.email,
    email_verified: u.email_verified ?? true,
    ...(u.name !== undefined ? { name: u.name } : {}),
    ...(u.groups !== undefined ? { groups: u.groups } : {}),
    ...u.extra,
  })

  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      client_id: c.client_id,
      ...(c.client_secret !== undefined ? { client_secret: c.client_secret } : {}),
      redirect_uris: c.redirect_uris,
      ...(c.redirect_uris.every(isLoopbackHttp) ? { application_type: 'native' } : {}),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_post',
      ...(c.jwks !== undefined ? { jwks: c.jwks } : {}),
    })),
    ...(opts.authMethods !== undefined ? { clientAuthMethods: opts.authMethods } : {}),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    jwks: { keys: [devSigningKey()] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups', ...extraClaims] },
    conformIdTokenClaims: opts.thinIdToken === true,
    features: { devInteractions: { enabled: false }, userinfo: { enabled: true }, revocation: { enabled: true } },
    pkce: { required: () => opts.requirePkce === true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed: (g: string) => boolean }) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (_ctx: unknown, sub: string) => {
      const u = users.get(sub)
      if (u === undefined || disabled.has(sub)) return undefined
      return { accountId: sub, claims: async () => claimsOf(u) }
    },
    ttl: { AccessToken: 3600, IdToken: 3600, RefreshToken: 14 * 86400, Grant: 14 * 86400, Session: 86400, Interaction: 600, AuthorizationCode: 300 },
  } as never)
  provider.proxy = false

  const finishInteraction = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const details = await provider.interactionDetails(req, res)
    const prompt = details.prompt.name
    if (deny) {
      deny = false
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user declined' }, { mergeWithLastSubmission: false })
      return
    }
    const hint = (details.params.login_hint as string | undefined)?.toLowerCase()
    const byHint = hint === undefined ? undefined : [...users.values()].find((u) => u.email.toLowerCase() === hint)
    const accountId = byHint?.sub ?? current
    if (accountId === undefined) throw new Error('dev IdP has no users')
    if (prompt === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false })
      return
    }
    const grant = details.grantId !== undefined
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session?.accountId ?? accountId, clientId: details.params.client_id as string })
    if (grant === undefined) throw new Error('grant vanished')
    grant.addOIDCScope(String(details.params.scope ?? 'openid'))
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups', ...extraClaims])
    const grantId = await grant.save()
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
  }

  const callback = provider.callback()
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/') === true) {
      finishInteraction(req, res).catch((err: unknown) => {
        res.statusCode = 500
        res.end(`interaction failed: ${(err as Error).message}`)
      })
      return
    }
    callback(req, res)
  })

  return {
    issuer,
    port,
    setUser: (email) => {
      const u = [...users.values()].find((x) => x.email.toLowerCase() === email.toLowerCase())
      if (u === undefined) throw new Error(`unknown dev user ${email}`)
      current = u.sub
    },
    upsertUser: (u) => { users.set(u.sub, u) },
    denyNext: () => { deny = true },
    disable: (sub) => { disabled.add(sub) },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
