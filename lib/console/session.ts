/**
 * The operator console's browser session (lib/console/routes.ts serves the pages).
 *
 * Sign-in is an OIDC authorization-code flow with PKCE, `state` and `nonce`, through the same IdP
 * client as the CLI's sign-in (lib/auth/signin.ts), redirecting back to `{base}/console/callback`.
 * A short-lived login cookie (SameSite=Lax: it must come back on the IdP's cross-site redirect)
 * binds the sealed state to the browser that started it.
 *
 * The session is a cookie holding a sealed blob (lib/auth/seal.ts: AES-256-GCM, only Weir can read
 * or make one) with a Weir session token minted at sign-in, the person's identity and a random
 * CSRF token. Invariants:
 *   - HttpOnly, Secure, SameSite=Strict, Path=/, and the `__Host-` prefix when Weir is served over
 *     https. Strict works because the console's HTML shell needs no cookie: only its same-origin
 *     API calls do, and those are same-site even right after the IdP's redirect. Secure cookies are
 *     kept by browsers on http://localhost and loopback addresses, so `weir dev` and tests work.
 *   - every request re-verifies the embedded token against the revocation lists every worker keeps
 *     (lib/session/sessions.ts): signing the person out everywhere, or out of the console, ends it;
 *   - it lives at most CONSOLE_TTL_S and never past the embedded token's expiry;
 *   - the role is recomputed from the session's groups and the current config on every request
 *     (`admin.admin_groups`: full; `admin.read_only_groups`: read-only; neither: refused);
 *   - a state-changing request must carry the CSRF token in `x-csrf-token`; no admin key is ever
 *     involved, so none can reach the browser.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Config } from '../config/schema.js'
import type { Req } from '../http/request.js'
import { getCookie } from '../http/request.js'
import { seal, unseal, type SealKey } from '../auth/seal.js'
import type { Principal } from '../session/token.js'

/** Longest a console session lasts (also bounded by the minted token's own expiry). */
export const CONSOLE_TTL_S = 8 * 3600
/** Lifetime of the login cookie and the sealed state. */
export const LOGIN_TTL_S = 600

export type Role = 'admin' | 'read_only'

export interface ConsoleSession {
  /** the Weir session token minted at sign-in */ t: string
  /** CSRF token */ c: string
  sub: string
  email: string | null
  name: string | null
  groups: string[]
}

export interface LoginState extends Record<string, unknown> {
  /** PKCE verifier */ v?: string
  /** nonce */ n: string
  /** SHA-256 (hex) of the login cookie */ b: string
}

export const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** The role `groups` grant under `config`, or null for someone who may not use the console. */
export function roleOf (config: Readonly<Config>, groups: readonly string[]): Role | null {
  const a = config.admin
  if (a === undefined) return null
  if (groups.some((g) => a.admin_groups.includes(g))) return 'admin'
  if (groups.some((g) => a.read_only_groups.includes(g))) return 'read_only'
  return null
}

/** Cookie names and attributes for one gateway. */
export class CookieJar {
  readonly session: string
  readonly login: string
  private readonly prefix: string

  constructor (secureOrigin: boolean) {
    this.prefix = secureOrigin ? '__Host-' : ''
    this.session = `${this.prefix}weir_console`
    this.login = `${this.prefix}weir_console_login`
  }

  sessionCookie (value: string, maxAge: number): string {
    return `${this.session}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure; SameSite=Strict`
  }

  loginCookie (value: string): string {
    return `${this.login}=${value}; Max-Age=${LOGIN_TTL_S}; Path=/; HttpOnly; Secure; SameSite=Lax`
  }

  clear (name: string, sameSite: 'Strict' | 'Lax'): string {
    return `${name}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=${sameSite}`
  }
}

export async function sealSession (keys: readonly SealKey[], p: Principal, token: string): Promise<{ value: string, maxAge: number }> {
  const maxAge = Math.max(1, Math.min(CONSOLE_TTL_S, p.exp - Math.floor(Date.now() / 1000)))
  const s: ConsoleSession = { t: token, c: randomBytes(24).toString('base64url'), sub: p.sub, email: p.email ?? null, name: p.name ?? null, groups: [...p.groups] }
  return { value: await seal(keys, 'console_session', { ...s }, maxAge), maxAge }
}

export async function readSession (keys: readonly SealKey[], jar: CookieJar, rq: Req): Promise<ConsoleSession | null> {
  const raw = getCookie(rq, jar.session)
  if (raw === undefined) return null
  const s = await unseal<ConsoleSession & Record<string, unknown>>(keys, 'console_session', raw)
  if (s === null || typeof s.t !== 'string' || typeof s.c !== 'string' || typeof s.sub !== 'string' || !Array.isArray(s.groups)) return null
  return s
}

/** What a change without the session's CSRF token is told (403 `GW_FORBIDDEN`). */
export const CSRF_REFUSED = 'missing or invalid CSRF token: send the x-csrf-token header the console session gave you (GET /console/api/session)'

/** Whether the request carries the session's CSRF token (constant-time comparison). */
export function csrfOk (s: ConsoleSession, rq: Req): boolean {
  const got = rq.headers['x-csrf-token']
  if (got === undefined || got === '') return false
  const a = sha256(got)
  const b = sha256(s.c)
  return timingSafeEqual(a, b)
}

/** Methods that change something: these need the CSRF token and a write role. */
export const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
