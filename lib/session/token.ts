/**
 * Session tokens: the bearer Claude Code holds after signing in.
 *
 * An HS256 JWT, header `{"alg":"HS256","typ":"JWT","kid"}`, payload in this order: `sub`, `email`,
 * `name`, `groups` (only when non-empty), `billing_group_tag` (when `admin.billing_group_tag` is
 * set), `aud: "claude-gateway"`, `iat`, `exp`, and `iss` when a public URL is configured. The client reads `exp`, `sub`, `email` and `groups` without verifying
 * (its telemetry stamps identity from them), so those names are part of the protocol.
 *
 * `session.jwt_secret` may list several secrets: the first signs, all verify, which lets an
 * operator rotate without logging anyone out. Each secret's `kid` is the first 8 bytes of its
 * SHA-256, hex. Signing and verification use `node:crypto` HMAC directly — synchronous and a few
 * microseconds — so the hot path never awaits to authenticate.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
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

/**
 * Verify signature (with the key named by `kid`, or each key when there is none), `aud`, `iss`
 * (when configured), `exp` and the claim shapes. Throws `TokenRefused`.
 */
export function verifyToken (ring: KeyRing, token: string, opts: { issuer?: string | undefined, now?: number, clockSkewSeconds?: number } = {}): Principal {
  const parts = token.split('.')
  if (parts.length !== 3) throw new TokenRefused('invalid_token', 'not a JWT')
  const [h, p, s] = parts as [string, string, string]
  let header: Record<string, unknown>
  let payload: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    throw new TokenRefused('invalid_token', 'undecodable JWT')
  }
  if (header === null || typeof header !== 'object' || header.alg !== 'HS256') throw new TokenRefused('invalid_token', 'wrong algorithm')
  if (payload === null || typeof payload !== 'object') throw new TokenRefused('invalid_token', 'payload is not an object')
  const given = Buffer.from(s, 'base64url')
  const candidates = typeof header.kid === 'string' ? [ring.byKid.get(header.kid)].filter((k): k is SigningKey => k !== undefined) : ring.keys
  let ok = false
  for (const k of candidates) {
    const want = createHmac('sha256', k.secret).update(`${h}.${p}`).digest()
    if (want.length === given.length && timingSafeEqual(want, given)) { ok = true; break }
  }
  if (!ok) throw new TokenRefused('invalid_token', candidates.length === 0 ? 'unknown kid' : 'bad signature')
  if (payload.aud !== AUDIENCE && !(Array.isArray(payload.aud) && payload.aud.includes(AUDIENCE))) throw new TokenRefused('invalid_token', 'wrong audience')
  if (opts.issuer !== undefined && payload.iss !== opts.issuer) throw new TokenRefused('invalid_token', 'wrong issuer')
  const { sub, exp, iat } = payload
  if (typeof sub !== 'string' || sub === '') throw new TokenRefused('invalid_token', 'no subject')
  if (typeof exp !== 'number' || typeof iat !== 'number') throw new TokenRefused('invalid_token', 'no exp/iat')
  const now = Math.floor((opts.now ?? Date.now()) / 1000)
  if (now >= exp + (opts.clockSkewSeconds ?? 0)) throw new TokenRefused('expired_token', 'expired')
  const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : []
  return Object.freeze({
    sub,
    email: typeof payload.email === 'string' ? payload.email : undefined,
    name: typeof payload.name === 'string' ? payload.name : undefined,
    groups: Object.freeze(groups),
    iat,
    exp,
  })
}

/** A short, stable id for a token (for revocation lists and logs); never the token itself. */
export function tokenId (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 32)
}
