/**
 * Schema for `oidc`: the identity provider developers sign in with.
 *
 * Normalisations happen in coercers (they run before validation): `allowed_email_domains` entries
 * are trimmed, lose one leading `@` and are lowercased; `allowed_groups` entries are trimmed; empty
 * entries are dropped, except that a list made only of empty entries is kept as is so that the
 * refinement can report it. `form_action_origins` are reduced to their origins.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { type Infer, type Struct, coerce, dynamic, object, optional, refine } from 'superstruct'
import { type Issue, bool, def, issuesAt, list, map, matching, minStr, num, oneOf, str } from './kit.js'
import { urlProblem } from './urls.js'
import { parseGroupsPath } from '../../auth/jsonpath.js'

const FORBIDDEN_AUTH_PARAMS = ['redirect_uri', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'scope',
  'response_type', 'response_mode', 'client_id']

/** Signing algorithms an id_token may use. */
export const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

/** Scopes requested when `oidc.scopes` is not set. */
export const DEFAULT_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'offline_access']

/** Normalise a list with `fn`, dropping empties unless nothing would be left. */
function normaliseList (fn: (s: string) => string) {
  return (v: unknown): unknown => {
    if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) return v
    const all = (v as string[]).map(fn)
    const kept = all.filter(s => s !== '')
    return kept.length > 0 || all.length === 0 ? kept : all
  }
}

const noEmpties = (v: string[]): true | string => v.every(s => s !== '') || 'contains only empty entries'

const emailDomain = (s: string): string => s.trim().replace(/^@/, '').toLowerCase()

const Scope = coerce(refine(minStr(), 'scope', s => !/\s/.test(s) || 'must be a single OAuth scope token (no whitespace)'),
  str(), s => s.trim())

const FormActionOrigin = coerce(
  refine(str(), 'origin', v => urlProblem(v, 'env') ??
    (/[;,'"\s]/.test(v) ? 'must not contain ; , quotes or whitespace' : true)),
  str(), v => { try { const u = new URL(v); return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : v } catch { return v } })

const EmailClaim = dynamic<string | string[]>(v =>
  (Array.isArray(v) ? list(minStr(), 1) : minStr()) as Struct<string | string[], unknown>)

const Email = matching(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address')

/** The certificate-based client authentication block (token_endpoint_auth_method: private_key_jwt). */
const ClientAssertion = object({
  /** Unencrypted PEM private key (RSA, at least 2048 bits) used to sign client assertions. */
  private_key_pem: minStr(),
  /** The single PEM certificate registered with the IdP for that key. */
  certificate_pem: minStr(),
})

function assertionIssues (a: Infer<typeof ClientAssertion>): Issue[] {
  const at = (k: string, message: string): Issue[] => [{ path: ['client_assertion', k], message }]
  if (a.private_key_pem.includes('ENCRYPTED')) return at('private_key_pem', 'is passphrase-protected; give the key as an unencrypted PEM')
  let key
  try { key = createPrivateKey(a.private_key_pem) } catch {
    return at('private_key_pem', 'is not a readable PEM private key (PKCS#8 or PKCS#1)')
  }
  if (key.asymmetricKeyType !== 'rsa') return at('private_key_pem', `must be an RSA key (assertions are signed with RS256), not ${String(key.asymmetricKeyType)}`)
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < 2048) return at('private_key_pem', `must be an RSA key of at least 2048 bits, not ${bits}`)
  if (a.certificate_pem.split('-----BEGIN CERTIFICATE-----').length > 2) return at('certificate_pem', 'must hold only the client certificate, not a chain')
  let cert
  try { cert = new X509Certificate(a.certificate_pem) } catch {
    return at('certificate_pem', 'is not a readable PEM certificate')
  }
  return cert.checkPrivateKey(key) ? [] : at('certificate_pem', 'does not belong to private_key_pem')
}

const OidcObject = object({
  /** Issuer URL; discovery at `<issuer>/.well-known/openid-configuration` unless `discovery_url`. */
  issuer: refine(str(), 'url', v => urlProblem(v, 'env') ?? true),
  /** OAuth client id registered with redirect URI `<public_url>/oauth/callback`. */
  client_id: minStr(),
  /** OAuth client secret. Required unless token_endpoint_auth_method is private_key_jwt. */
  client_secret: optional(minStr()),
  /** Key and certificate for private_key_jwt client authentication. */
  client_assertion: optional(ClientAssertion),
  /** PEM contents (not a path) of the CA set trusted for IdP requests only. */
  ca_cert_pem: optional(str()),
  /** Claim holding groups: a name or an RFC 6901 JSON Pointer. Default `groups`. */
  groups_claim: def(minStr(), 'groups'),
  /**
   * Groups read with a JSONPath subset instead of `groups_claim` (lib/auth/jsonpath.ts), for IdPs
   * that send groups as objects: `$.groups[?@.type=='security'].displayName`. Default unset.
   */
  groups_jsonpath: optional(refine(str(), 'jsonpath', v => {
    const r = parseGroupsPath(v)
    return r.ok || `is not a JSONPath Weir reads (${r.reason}, at character ${r.at + 1}): after $ it takes only .name ` +
      "(letters, digits and _, not starting with a digit), ['any other name'], [*] and [?@.field=='value'], and must start " +
      "with .name or ['name']; for a plain claim name or a JSON Pointer use oidc.groups_claim"
  })),
  /** Claim (or ordered fallback list of claims) holding the email. Default `email`. */
  email_claim: def(EmailClaim, 'email'),
  /** Claim used as the user id instead of `sub`. */
  user_id_claim: optional(minStr()),
  /** Ask /userinfo when the id_token lacks email or groups. Default false. */
  userinfo_fallback: def(bool(), false),
  /** Send S256 PKCE on the authorization request. Default true. */
  use_pkce: def(bool(), true),
  /** Tolerance for id_token time claims, in seconds. Default none (0). */
  clock_skew_seconds: optional(num({ int: true, min: 0 })),
  /** How the client authenticates at the token endpoint. Default: chosen from the IdP's metadata. */
  token_endpoint_auth_method: optional(oneOf(['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const)),
  /** Expected id_token signing algorithm. Default RS256. */
  id_token_signed_response_alg: optional(oneOf(ID_TOKEN_ALGS)),
  /** Extra accepted `azp` values. */
  additional_authorized_parties: optional(list(str())),
  /** Full URL of the discovery document (its path must contain /.well-known/). */
  discovery_url: optional(refine(str(), 'url', v => urlProblem(v, 'env') ?? (
    new URL(v).pathname.includes('/.well-known/') ||
    'must be the discovery document itself (a path containing /.well-known/); any other path gets /.well-known/openid-configuration appended'))),
  /** Send IdP traffic through HTTPS_PROXY/HTTP_PROXY. Default unset (direct, with a warning when a proxy is set). */
  use_proxy: optional(bool()),
  /** Scopes requested (a full override). Default openid, profile, email, offline_access. */
  scopes: def(refine(list(Scope), 'openid', v => v.includes('openid') ||
    'must include openid, or the IdP returns no id_token'), () => [...DEFAULT_SCOPES]),
  /** Also send `scope` on refresh-token grants. Default false. */
  scope_on_refresh: def(bool(), false),
  /** Extra query parameters on the IdP authorization URL. Default none. */
  extra_auth_params: def(refine(map(str()), 'params', v => {
    const bad = Object.keys(v).filter(k => k === '' || FORBIDDEN_AUTH_PARAMS.includes(k))
    return bad.length === 0 || `must not set ${bad.map(k => k === '' ? '(empty key)' : k).join(', ')}: ` +
      'the gateway manages those parameters itself (use oidc.scopes for scope)'
  }), () => ({})),
  /** Email domains allowed to sign in (normalised). Default: any. */
  allowed_email_domains: optional(coerce(refine(list(str()), 'entries', noEmpties),
    list(str()), normaliseList(emailDomain))),
  /** Origins added to the /device page's CSP form-action. Default none. */
  form_action_origins: def(list(FormActionOrigin), () => []),
  /** Groups allowed to sign in (exact, case-sensitive). Default: any. */
  allowed_groups: optional(coerce(refine(list(str()), 'entries', noEmpties),
    list(str()), normaliseList(s => s.trim()))),
  /** Google Workspace group lookup through the Directory API. */
  google_groups: optional(object({
    /** Path to the service account key JSON (domain-wide delegation). */
    service_account_json_path: minStr(),
    /** Workspace admin the service account impersonates. */
    admin_email: Email,
  })),
})

/** `oidc`: the identity provider. */
export const OidcSchema = refine(OidcObject, 'client_auth', (v, ctx) => {
  const issues: Issue[] = []
  if (v.groups_jsonpath !== undefined && v.groups_claim !== 'groups') {
    issues.push({ path: ['groups_jsonpath'], message: 'is read in place of oidc.groups_claim, so the two cannot both be set: remove one' })
  }
  if (v.token_endpoint_auth_method !== 'private_key_jwt') {
    if (v.client_secret === undefined) {
      issues.push({ path: ['client_secret'], message: 'required unless token_endpoint_auth_method is private_key_jwt (certificate credentials, given in a client_assertion block)' })
    }
    if (v.client_assertion !== undefined) {
      issues.push({ path: ['client_assertion'], message: 'only used with token_endpoint_auth_method: private_key_jwt' })
    }
  } else {
    if (v.client_secret !== undefined) {
      issues.push({ path: ['client_secret'], message: 'must be removed when token_endpoint_auth_method is private_key_jwt' })
    }
    if (v.client_assertion === undefined) {
      issues.push({ path: ['client_assertion'], message: 'required (private_key_pem and certificate_pem) when token_endpoint_auth_method is private_key_jwt' })
    } else if (v.client_assertion.private_key_pem !== '' && v.client_assertion.certificate_pem !== '') {
      // (an empty field has already been reported by its own refinement)
      issues.push(...assertionIssues(v.client_assertion))
    }
  }
  return issuesAt(ctx, issues)
})

export type OidcConfig = Infer<typeof OidcSchema>
