/**
 * From IdP claims to a Weir identity, and the policy checks every sign-in and refresh passes.
 *
 * Claim names (`email_claim`, `groups_claim`, `user_id_claim`) are either a top-level name or an
 * RFC 6901 JSON Pointer (`/resource_access/gateway/roles`, with `~1` for `/` and `~0` for `~`);
 * `email_claim` may list several, the first present non-null one wins. A groups value that is a
 * string becomes a one-element list; an array keeps its non-empty strings; anything else is none.
 * `groups_jsonpath`, when set, is read instead of `groups_claim` (lib/auth/jsonpath.ts).
 *
 * The id_token is authoritative; userinfo (when fetched) only fills what the id_token lacks.
 * Checks, in order (each failure a `PolicyDenied`, except where noted):
 *   1. `email_verified` present and not true/"true" — always refused;
 *   2. `allowed_email_domains` set: an email containing `@` whose domain (after the last `@`,
 *      lower-cased) is listed;
 *   3. a non-empty `sub`;
 *   4. `user_id_claim` set: that claim is a non-empty string (`IdpUnavailable`: a configuration
 *      or scope problem, not a verdict on the person);
 *   5. groups (from the claim, or the Google Directory) meet `allowed_groups` — one exact,
 *      case-sensitive match.
 */
import type { OidcConfig } from '../config/schema/oidc.js'
import type { Identity } from '../session/token.js'
import { IdpUnavailable, PolicyDenied } from './errors.js'
import { evaluateGroupsPath, parseGroupsPath } from './jsonpath.js'

export type Claims = Record<string, unknown>

/** The value at a flat claim name or JSON Pointer. */
export function claimAt (claims: Claims, name: string): unknown {
  if (!name.startsWith('/')) return claims[name]
  let v: unknown = claims
  for (const raw of name.slice(1).split('/')) {
    if (v === null || typeof v !== 'object') return undefined
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(v)) {
      if (!/^(0|[1-9]\d*)$/.test(seg)) return undefined
      v = v[Number(seg)]
    } else {
      if (!Object.hasOwn(v, seg)) return undefined
      v = (v as Claims)[seg]
    }
  }
  return v
}

/** The first of `names` present with a non-null value. */
export function firstClaim (claims: Claims, names: string | readonly string[]): unknown {
  for (const n of typeof names === 'string' ? [names] : names) {
    const v = claimAt(claims, n)
    if (v !== undefined && v !== null) return v
  }
  return undefined
}

/** Groups from a claim value, or undefined when it holds none. */
export function groupsFrom (v: unknown): string[] | undefined {
  if (typeof v === 'string') return v !== '' ? [v] : undefined
  if (!Array.isArray(v)) return undefined
  const out = v.filter((g): g is string => typeof g === 'string' && g !== '')
  return out.length > 0 ? out : undefined
}

const nonEmpty = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined

/** Does this claim set carry an email (per `email_claim`)? */
export const hasEmail = (c: Claims, cfg: OidcConfig): boolean => firstClaim(c, cfg.email_claim) !== undefined
/**
 * The raw groups value: at `groups_jsonpath` when set (a list when the path fans out), else at
 * `groups_claim`. A path that does not parse (boot refuses those) selects nothing.
 */
export function groupsValue (c: Claims, cfg: OidcConfig): unknown {
  if (cfg.groups_jsonpath === undefined) return claimAt(c, cfg.groups_claim)
  const parsed = parseGroupsPath(cfg.groups_jsonpath)
  return parsed.ok ? evaluateGroupsPath(c, parsed.segments) : undefined
}

/** Does this claim set carry the groups claim at all? */
export const hasGroups = (c: Claims, cfg: OidcConfig): boolean => groupsValue(c, cfg) !== undefined

/** Whether userinfo is worth asking: only for what the id_token lacks. */
export function wantsUserinfo (idClaims: Claims, cfg: OidcConfig): boolean {
  if (!cfg.userinfo_fallback) return false
  return !(hasEmail(idClaims, cfg) && (cfg.google_groups !== undefined || hasGroups(idClaims, cfg)))
}

/** Check the email against the always-on and configured rules. */
function checkEmail (email: unknown, verified: unknown, domains: readonly string[] | undefined): void {
  if (verified !== undefined && verified !== true && verified !== 'true') {
    throw new PolicyDenied('id_token email is not verified', 'Your identity provider has not verified your email address.')
  }
  if (domains === undefined || domains.length === 0) return
  if (typeof email !== 'string' || !email.includes('@')) {
    throw new PolicyDenied('id_token missing email claim (configure the IdP to send it, or set oidc.email_claim)',
      'Your identity provider did not send an email address, which this gateway requires.')
  }
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase()
  if (!domains.includes(domain)) throw new PolicyDenied('email domain not allowed', `Accounts at ${domain} may not use this gateway.`)
}

/** Check groups against `allowed_groups`. */
export function checkGroups (groups: readonly string[] | undefined, allowed: readonly string[] | undefined): void {
  if (allowed === undefined || allowed.length === 0) return
  const set = new Set(allowed)
  if (groups?.some((g) => set.has(g)) !== true) {
    throw new PolicyDenied('user is not a member of an allowed group', 'Your account is not in a group that may use this gateway.')
  }
}

/**
 * Build the identity from `primary` claims (the id_token's, or userinfo's when a refresh brought
 * no id_token) and optional `extra` userinfo claims. `directory` looks up Google groups when
 * `oidc.google_groups` is configured.
 */
export async function identityFrom (cfg: OidcConfig, primary: Claims, extra: Claims | undefined,
  directory?: (email: string) => Promise<string[]>): Promise<Identity> {
  const emailValue = hasEmail(primary, cfg) ? firstClaim(primary, cfg.email_claim) : extra !== undefined ? firstClaim(extra, cfg.email_claim) : undefined
  checkEmail(emailValue, primary.email_verified ?? extra?.email_verified, cfg.allowed_email_domains)
  if (nonEmpty(primary.sub) === undefined) throw new PolicyDenied('IdP claims missing required `sub`')
  let sub = primary.sub as string
  if (cfg.user_id_claim !== undefined) {
    const id = nonEmpty(claimAt(primary, cfg.user_id_claim))
    if (id === undefined) {
      throw new IdpUnavailable(`oidc.user_id_claim names \`${cfg.user_id_claim}\`, which the IdP did not send as a non-empty string (check oidc.scopes, and oidc.scope_on_refresh when only refreshes fail)`)
    }
    sub = id
  }
  const email = typeof emailValue === 'string' ? emailValue : undefined
  let groups: string[] | undefined
  if (cfg.google_groups !== undefined) {
    if (email === undefined) throw new IdpUnavailable('oidc.google_groups is configured but the id_token has no email (check oidc.email_claim and that the email scope is requested)')
    if (directory === undefined) throw new IdpUnavailable('google_groups lookup is not available')
    groups = await directory(email)
  } else {
    groups = hasGroups(primary, cfg) ? groupsFrom(groupsValue(primary, cfg)) : extra !== undefined ? groupsFrom(groupsValue(extra, cfg)) : undefined
  }
  checkGroups(groups, cfg.allowed_groups)
  const name = nonEmpty(primary.name) ?? nonEmpty(extra?.name)
  return checkedIdentity({ sub, email, name, groups })
}

/**
 * Characters no identity claim may carry: C0 controls (CR, LF, NUL...), DEL, C1 controls, the
 * Unicode line and paragraph separators, and bidirectional embeddings, overrides and isolates.
 * They would split audit and log lines, headers and CSV exports, or make one account read as
 * another. Identifiers (sub, email, groups) also refuse the invisible direction marks.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u
const IDENTIFIER_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u

/** Refuse an identity any of whose claims holds a control character (`PolicyDenied`, logged by the caller). */
function checkedIdentity (who: Identity): Identity {
  const fields: Array<[string, string | undefined, RegExp]> = [['sub', who.sub, IDENTIFIER_CONTROL], ['email', who.email, IDENTIFIER_CONTROL], ['name', who.name, CONTROL]]
  for (const g of who.groups ?? []) fields.push(['groups', g, IDENTIFIER_CONTROL])
  for (const [claim, value, re] of fields) {
    const m = value === undefined ? null : re.exec(value)
    if (m !== null) {
      const cp = `U+${(m[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`
      throw new PolicyDenied(`identity claim ${claim} contains control character ${cp}`,
        'Your identity provider sent account details containing control characters, which this gateway does not accept. Ask your administrator to correct your account.')
    }
  }
  return who
}
