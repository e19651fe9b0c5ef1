/**
 * Verification of customer-routed-inference tokens: compact JWS tokens whose protected header has
 * `typ: cri+jwt`, minted by Anthropic for Claude Enterprise clients and checked here offline.
 *
 * A token is accepted only when all of these hold:
 *   - header: `alg` is ES256 (nothing else, ever), `kid` names a key of the issuer's key set;
 *   - the signature verifies with that key;
 *   - claims `exp`, `iat`, `aud`, `sub`, `org` and `scope` are present; `iss` equals
 *     `cri.issuer`; one `aud` value is in `cri.audience`; `exp` and `iat` hold with 60 seconds of
 *     clock skew; `scope` is exactly `inference`; `org`, lowercased, is in `cri.org_allowlist`;
 *     `act.sub`, when present, is a string (the person acting, recorded in the audit line).
 * The claim checks run first on the undecoded-but-unverified payload so that most refusals are
 * decided synchronously, before any body byte is read; the signature check then confirms them.
 * A refusal is a `CriRefused` with a short reason (audited as `cri_<reason>`); an issuer whose keys
 * cannot be had is `JwksUnavailable` (jwks.ts).
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { JwksCache } from './jwks.js'

export const CRI_TYP = 'cri+jwt'
export const SKEW_SECONDS = 60
export const DEFAULT_ISSUER = 'https://api.anthropic.com/api/oauth/cri'
const REQUIRED = ['exp', 'iat', 'aud', 'sub', 'org', 'scope'] as const

/** A token that is not acceptable; `reason` becomes the audit reason `cri_<reason>`. */
export class CriRefused extends Error {
  constructor (readonly reason: string, readonly org?: string) { super(`cri token refused: ${reason}`); this.name = 'CriRefused' }
}

/** Who a verified CRI token speaks for. */
export interface CriIdentity {
  readonly sub: string
  readonly org: string
  readonly act: string | undefined
  readonly iat: number
  readonly exp: number
}

export interface CriRules {
  readonly issuer: string
  readonly audience: readonly string[]
  readonly orgs: ReadonlySet<string>
}

/** True when `token` is a compact JWS whose header says `typ: cri+jwt` (cheap; verifies nothing). */
export function isCriToken (token: string): boolean {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot > 2048) return false
  try {
    const h = decodeProtectedHeader(token)
    return typeof h.typ === 'string' && h.typ.toLowerCase() === CRI_TYP
  } catch { return false }
}

/** The checks that need no key: header shape and claims. Throws CriRefused; returns the kid. */
export function precheck (token: string, rules: CriRules, nowSec: number): { kid: string, claims: JWTPayload } {
  let header, claims: JWTPayload
  try {
    header = decodeProtectedHeader(token)
    claims = decodeJwt(token)
  } catch { throw new CriRefused('malformed') }
  if (header.alg !== 'ES256') throw new CriRefused('bad_alg')
  if (typeof header.kid !== 'string' || header.kid === '') throw new CriRefused('missing_kid')
  const org = typeof claims.org === 'string' ? claims.org.toLowerCase() : undefined
  for (const k of REQUIRED) if (claims[k] === undefined) throw new CriRefused(`missing_${k}`, org)
  if (claims.iss !== rules.issuer) throw new CriRefused('wrong_issuer', org)
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!aud.some((a) => typeof a === 'string' && rules.audience.includes(a))) throw new CriRefused('wrong_audience', org)
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.sub !== 'string' || claims.sub === '') throw new CriRefused('malformed', org)
  if (claims.exp + SKEW_SECONDS <= nowSec) throw new CriRefused('expired', org)
  if (claims.iat - SKEW_SECONDS > nowSec) throw new CriRefused('issued_in_future', org)
  if (claims.scope !== 'inference') throw new CriRefused('bad_scope', org)
  if (org === undefined || !rules.orgs.has(org)) throw new CriRefused('org_not_allowed', org)
  const act = claims.act as { sub?: unknown } | undefined
  if (act !== undefined && (typeof act !== 'object' || act === null || (act.sub !== undefined && typeof act.sub !== 'string'))) throw new CriRefused('malformed', org)
  return { kid: header.kid, claims }
}

export class CriVerifier {
  constructor (private readonly rules: CriRules, private readonly keys: JwksCache, private readonly now: () => number = Date.now) {}

  /** Verify a cri+jwt fully. Rejects with CriRefused or JwksUnavailable. */
  async verify (token: string): Promise<CriIdentity> {
    const { kid, claims } = precheck(token, this.rules, Math.floor(this.now() / 1000))
    const org = (claims.org as string).toLowerCase()
    const resolve = await this.keys.forKid(kid)
    if (resolve === null) throw new CriRefused('unknown_kid', org)
    try {
      await jwtVerify(token, resolve, {
        algorithms: ['ES256'],
        typ: CRI_TYP,
        issuer: this.rules.issuer,
        audience: [...this.rules.audience],
        requiredClaims: [...REQUIRED],
        clockTolerance: SKEW_SECONDS,
        currentDate: new Date(this.now()),
      })
    } catch (err) {
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new CriRefused('bad_signature', org)
      if (err instanceof joseErrors.JWTExpired) throw new CriRefused('expired', org)
      if (err instanceof joseErrors.JOSEError) throw new CriRefused('invalid', org)
      throw err
    }
    const act = (claims.act as { sub?: string } | undefined)?.sub
    return { sub: claims.sub as string, org, act, iat: claims.iat as number, exp: claims.exp as number }
  }
}
