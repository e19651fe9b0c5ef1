/**
 * Session tokens: the bearer Claude Code holds after signing in.
 *
 * An HS256 JWT, header `{"alg":"HS256","typ":"JWT","kid"}`, payload in this order: `sub`, `email`,
 * `name`, `groups` (only when non-empty), `billing_group_tag` (when `admin.billing_group_tag` is
 * set), `aud: "claude-gateway"`, `iat`, `exp`, `iss` when a public URL is configured, and `jti`
 * (128 random bits, so two tokens minted for one person in one second still differ, and a
 * revocation or a session family names exactly one of them). The client reads `exp`, `sub`, `email` and `groups` without verifying
 * (its telemetry stamps identity from them), so those names are part of the protocol.
 *
 * `session.jwt_secret` may list several secrets: the first signs, all verify, which lets an
 * operator rotate without logging anyone out. Each secret's `kid` is the first 8 bytes of its
 * SHA-256, hex. A token is accepted only in the exact spelling Weir minted: every segment unpadded
 * base64url whose bytes re-encode to the same text, so one token has one text and one id (what
 * revocation is keyed on). Signing and verification use `node:crypto` HMAC directly — synchronous and a few
 * microseconds — so the hot path never awaits to authenticate.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { GatewayError } from '../errors.js'

export const AUDIENCE = 'claude-gateway'

export interface SigningKey {
  readonly kid: string
  readonly secret: Buffer
}

/** The key ring: index 0 signs; every key verifies. */
export interface KeyRing {
  readonly keys: readonly SigningKey[]
  readonly byKid: ReadonlyMap<string, SigningKey>
}

export function kidOf (secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 16)
}

export function keyRing (secrets: readonly string[]): KeyRing {
  if (secrets.length === 0) throw new TypeError('session.jwt_secret needs at least one secret')
  const keys = secrets.map((s) => Object.freeze({ kid: kidOf(s), secret: Buffer.from(s, 'utf8') }))
  return Object.freeze({ keys: Object.freeze(keys), byKid: new Map(keys.map((k) => [k.kid, k])) })
}

/** Who a verified token belongs to. */
export interface Principal {
  readonly sub: string
  readonly email: string | undefined
  readonly name: string | undefined
  readonly groups: readonly string[]
  readonly iat: number
  readonly exp: number
  /**
   * Set only for a customer-routed-inference token (lib/cri): the Anthropic organisation and the
   * acting person's `act.sub`. Such a principal is never metered nor matched to managed policies.
   */
  readonly cri?: { readonly org: string, readonly act: string | undefined }
}

export interface Identity {
  sub: string
  email?: string | undefined
  name?: string | undefined
  groups?: readonly string[] | undefined
  /**
   * `admin.billing_group_tag`: tells the client which request-tag key carries the developer's
   * billing group (claim `billing_group_tag`).
   */
  billingGroupTag?: string | undefined
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url')

function sign (key: SigningKey, data: string): string {
  return createHmac('sha256', key.secret).update(data).digest('base64url')
}

/**
 * Mint a session token. `ttlHours` may be fractional; `issuer` is `listen.public_url` when set.
 * Returns the token and its lifetime in seconds (the token endpoint's `expires_in`).
 */
export function mintToken (ring: KeyRing, who: Identity, opts: { ttlHours: number, issuer?: string | undefined, now?: number }): { token: string, expiresIn: number } {
  const key = ring.keys[0] as SigningKey
  const iat = Math.floor((opts.now ?? Date.now()) / 1000)
  const expiresIn = Math.round(opts.ttlHours * 3600)
  const payload: Record<string, unknown> = { sub: who.sub }
  if (who.email !== undefined && who.email !== '') payload.email = who.email
  if (who.name !== undefined && who.name !== '') payload.name = who.name
  if (who.groups !== undefined && who.groups.length > 0) payload.groups = [...who.groups]
  if (who.billingGroupTag !== undefined && who.billingGroupTag !== '') payload.billing_group_tag = who.billingGroupTag
  payload.aud = AUDIENCE
  payload.iat = iat
  payload.exp = iat + expiresIn
  if (opts.issuer !== undefined) payload.iss = opts.issuer
  payload.jti = randomBytes(16).toString('base64url')
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.kid }))
  const body = b64(JSON.stringify(payload))
  return { token: `${head}.${body}.${sign(key, `${head}.${body}`)}`, expiresIn }
}

/** Why a token was refused (audit reason). */
export type RefusalReason = 'invalid_token' | 'expired_token' | 'revoked_token'

export class TokenRefused extends GatewayError {
  readonly reason: RefusalReason
  constructor (reason: RefusalReason, detail: string) {
    super(reason === 'expired_token' ? 'GW_AUTH_EXPIRED' : reason === 'revoked_token' ? 'GW_AUTH_REVOKED' : 'GW_AUTH_INVALID', undefined, { detail })
    this.reason = reason
  }
}

/** Header parameters that point at a key or demand extensions; Weir's own tokens carry none. */
const FOREIGN_HEADER = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit'] as const
const B64URL = /^[A-Za-z0-9_-]+$/

/**
 * Decode one segment, accepting only its canonical spelling: base64url alphabet, no padding, and
 * re-encoding the bytes gives back the same text (so no spare low bits and no impossible length).
 * Without this, `=`, `+`/`/`, stray characters or other low bits spell the same bytes differently.
 */
function strictSegment (seg: string): Buffer | undefined {
  if (!B64URL.test(seg)) return undefined
  const bytes = Buffer.from(seg, 'base64url')
  return bytes.toString('base64url') === seg ? bytes : undefined
}

/** A verified token: who it belongs to, and its id (see `tokenId`). */
export interface Verified { principal: Principal, id: string }

/**
 * Verify a token and derive its id from the verified bytes. Only the one canonical spelling of a
 * token is accepted (every segment strict base64url), the header must be HS256 without key-locating
 * parameters, the signature is checked with the key named by `kid` (or each key when there is
 * none), then `aud`, `iss` (when configured), `exp`, `nbf`, an `iat` not in the future and the claim
 * shapes. Throws `TokenRefused`.
 */
export function verifySession (ring: KeyRing, token: string, opts: { issuer?: string | undefined, now?: number, clockSkewSeconds?: number } = {}): Verified {
  const parts = token.split('.')
  if (parts.length !== 3) throw new TokenRefused('invalid_token', 'not a JWT')
  const [h, p, s] = parts as [string, string, string]
  const hb = strictSegment(h)
  const pb = strictSegment(p)
  const given = strictSegment(s)
  if (hb === undefined || pb === undefined || given === undefined) throw new TokenRefused('invalid_token', 'not canonical base64url')
  let header: Record<string, unknown>
  let payload: Record<string, unknown>
  try {
    header = JSON.parse(hb.toString('utf8')) as Record<string, unknown>
    payload = JSON.parse(pb.toString('utf8')) as Record<string, unknown>
  } catch {
    throw new TokenRefused('invalid_token', 'undecodable JWT')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header) || header.alg !== 'HS256') throw new TokenRefused('invalid_token', 'wrong algorithm')
  if (FOREIGN_HEADER.some((k) => Object.hasOwn(header, k))) throw new TokenRefused('invalid_token', 'foreign key parameter in header')
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenRefused('invalid_token', 'kid is not a string')
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new TokenRefused('invalid_token', 'payload is not an object')
  const candidates = typeof header.kid === 'string' ? [ring.byKid.get(header.kid)].filter((k): k is SigningKey => k !== undefined) : ring.keys
  let ok = false
  for (const k of candidates) {
    const want = createHmac('sha256', k.secret).update(`${h}.${p}`).digest()
    if (want.length === given.length && timingSafeEqual(want, given)) { ok = true; break }
  }
  if (!ok) throw new TokenRefused('invalid_token', candidates.length === 0 ? 'unknown kid' : 'bad signature')
  if (payload.aud !== AUDIENCE && !(Array.isArray(payload.aud) && payload.aud.includes(AUDIENCE))) throw new TokenRefused('invalid_token', 'wrong audience')
  if (opts.issuer !== undefined && payload.iss !== opts.issuer) throw new TokenRefused('invalid_token', 'wrong issuer')
  const { sub, exp, iat, nbf } = payload
  if (typeof sub !== 'string' || sub === '') throw new TokenRefused('invalid_token', 'no subject')
  if (typeof exp !== 'number' || typeof iat !== 'number') throw new TokenRefused('invalid_token', 'no exp/iat')
  const now = Math.floor((opts.now ?? Date.now()) / 1000)
  const skew = opts.clockSkewSeconds ?? 0
  if (now >= exp + skew) throw new TokenRefused('expired_token', 'expired')
  // Weir never mints these; a signed one means a leaked secret, and a future `iat` would slip
  // past a subject's sign-out cut-off.
  if (iat > now + skew + 60) throw new TokenRefused('invalid_token', 'issued in the future')
  if (nbf !== undefined && (typeof nbf !== 'number' || now + skew < nbf)) throw new TokenRefused('invalid_token', 'not yet valid')
  const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : []
  const principal = Object.freeze({
    sub,
    email: typeof payload.email === 'string' ? payload.email : undefined,
    name: typeof payload.name === 'string' ? payload.name : undefined,
    groups: Object.freeze(groups),
    iat,
    exp,
  })
  return { principal, id: idOf(token) }
}

const idOf = (canonical: string): string => createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 32)

/**
 * Re-spell a token in its canonical form (each segment decoded leniently and re-encoded), or
 * undefined when it is not three segments. Only for sign-out, where revoking the token a sloppy
 * spelling stands for is what the caller wants; authentication never accepts a re-spelling.
 */
export function canonicalSpelling (token: string): string | undefined {
  const parts = token.trim().split('.')
  if (parts.length !== 3) return undefined
  return parts.map((x) => Buffer.from(x, 'base64url').toString('base64url')).join('.')
}

/**
 * A short, stable id for a token (for revocation lists and logs); never the token itself. It is
 * SHA-256 of the canonical spelling, i.e. a function of the header, payload and signature bytes
 * (the same value earlier versions stored for every token Weir minted, so revocations stored
 * before the canonical-form rule still match), whatever spelling it is handed.
 */
export function tokenId (token: string): string {
  return idOf(canonicalSpelling(token) ?? token)
}
