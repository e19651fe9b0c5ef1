/**
 * Sealed blobs: small JSON records only Weir can read and nobody can alter.
 *
 * Two things are sealed. The OAuth `state` makes a round trip through the identity provider and the
 * browser, so it must be opaque and tamper-proof; it carries the device-code key, the PKCE
 * verifier, the nonce and a hash of the browser cookie. Device grants are sealed too before they go
 * into the shared `kv` table, because a completed grant holds a session token and the IdP's refresh
 * token until the CLI collects them.
 *
 * Format: a compact JWE (`alg: dir`, `enc: A256GCM`) whose key is SHA-256 of a `session.jwt_secret`
 * entry, with that secret's `kid` in the header; the payload carries `kind`, `iat` and `exp`. The
 * first secret seals, any configured secret opens (so rotating secrets does not break flows in
 * flight), and a blob of another kind, an expired one or one that fails to decrypt reads as absent.
 */
import { createHash } from 'node:crypto'
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose'
import { kidOf } from '../session/token.js'

/** One sealing key. */
export interface SealKey {
  readonly kid: string
  readonly key: Uint8Array
}

/** What a blob is for; a blob of one kind never opens as another. */
export type SealKind = 'oauth_state' | 'device_grant' | 'console_state' | 'console_session'

/** Derive the sealing keys from `session.jwt_secret` (first entry seals). */
export function sealKeys (secrets: readonly string[]): readonly SealKey[] {
  if (secrets.length === 0) throw new TypeError('session.jwt_secret needs at least one secret')
  return Object.freeze(secrets.map((s) => Object.freeze({ kid: kidOf(s), key: new Uint8Array(createHash('sha256').update(s, 'utf8').digest()) })))
}

/** Seal `record` as `kind`, readable for `ttlSeconds`. */
export async function seal (keys: readonly SealKey[], kind: SealKind, record: Record<string, unknown>, ttlSeconds: number): Promise<string> {
  const k = keys[0] as SealKey
  const now = Math.floor(Date.now() / 1000)
  return await new EncryptJWT({ ...record, kind })
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: k.kid })
    .setIssuedAt(now)
    .setExpirationTime(now + Math.max(1, Math.round(ttlSeconds)))
    .encrypt(k.key)
}

/** Open a blob of `kind`. Returns null for anything forged, expired, of another kind or unreadable. */
export async function unseal<T extends Record<string, unknown>> (keys: readonly SealKey[], kind: SealKind, blob: string): Promise<T | null> {
  if (typeof blob !== 'string' || blob.length === 0 || blob.length > 16_384) return null
  try {
    const { payload } = await jwtDecrypt(blob, (header) => {
      const k = header.kid === undefined ? keys[0] : keys.find((x) => x.kid === header.kid)
      if (k === undefined) throw new Error('unknown kid')
      return k.key
    }, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })
    if ((payload as JWTPayload & { kind?: unknown }).kind !== kind) return null
    return payload as T
  } catch {
    return null
  }
}
