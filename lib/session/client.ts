/**
 * Worker-side calls into the sign-in store. Each travels to the primary (lib/ipc.ts), whose
 * handlers are registered by lib/session/primary.ts; in the main thread they run directly.
 */
import { callPrimary } from '../ipc.js'
import type { Revocation } from './sessions.js'
import type { PrincipalSeen } from './store.js'

/** Store `value` under `key` only if no live row holds it. */
export async function kvAdd (key: string, value: string, ttlSeconds: number): Promise<boolean> {
  return await callPrimary('session.kvAdd', { key, value, ttlSeconds })
}

/** Compare-and-swap the live value under `key`. */
export async function kvSwap (key: string, expect: string, value: string, ttlSeconds: number): Promise<boolean> {
  return await callPrimary('session.kvSwap', { key, expect, value, ttlSeconds })
}

/** Record the principal's last-seen email, name and groups. */
export async function principalSeen (p: PrincipalSeen): Promise<void> {
  await callPrimary('session.recordPrincipal', p)
}

/**
 * Revoke an access token (by id) or a subject's earlier tokens, on every worker and replica. An
 * access token's session family (its sign-in's refresh tokens) is revoked with it; returns that
 * family's id, or null when the token has none on record.
 */
export async function revokeSession (r: Revocation): Promise<string | null> {
  return await callPrimary('session.revoke', r)
}

/** Refuse an IdP refresh token (by hash), and every refresh token of its family, from now on. */
export async function revokeRefreshToken (hash: string, ttlSeconds: number): Promise<string | null> {
  return await callPrimary('session.revokeRefresh', { hash, ttlSeconds })
}

/** Whether a refresh token (by any of its hashes) or its family was signed out, and its family id when known. */
export async function refreshStanding (hashes: readonly string[]): Promise<{ revoked: boolean, family: string | null }> {
  return await callPrimary('session.refreshStanding', { hashes })
}

/** Record the session family of a freshly minted access token and of its refresh token. */
export async function linkFamily (l: { family: string, sub?: string | undefined, tokenId: string, tokenTtl: number, refreshHash?: string | undefined }): Promise<void> {
  await callPrimary('session.link', l)
}

/** Whether an IdP refresh token (by hash) was signed out. */
export async function isRefreshRevoked (hash: string): Promise<boolean> {
  return await callPrimary('session.refreshRevoked', { hash })
}
