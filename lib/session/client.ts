/**
 * Worker-side calls into the sign-in store. Each travels to the primary (lib/ipc.ts), whose
 * handlers are registered by lib/session/primary.ts; in the main thread they run directly.
 */
import { callPrimary } from '../ipc.js'
import type { Revocation } from './sessions.js'
import type { PrincipalSeen } from './store.js'

/** Store `value` under `key` only if no live row holds it. */
export async function kvAdd (key: string, value: string, ttlSeconds: number): Promise<boolean> {
  return await callPrimary<boolean>('signin.kvAdd', { key, value, ttlSeconds })
}

/** Compare-and-swap the live value under `key`. */
export async function kvSwap (key: string, expect: string, value: string, ttlSeconds: number): Promise<boolean> {
  return await callPrimary<boolean>('signin.kvSwap', { key, expect, value, ttlSeconds })
}

/** Record the principal's last-seen email, name and groups. */
export async function principalSeen (p: PrincipalSeen): Promise<void> {
  await callPrimary('signin.principal', p)
}

/** Revoke an access token (by id) or a subject's earlier tokens, on every worker and replica. */
export async function revokeSession (r: Revocation): Promise<void> {
  await callPrimary('sessions.revoke', r)
}

/** Refuse an IdP refresh token (by hash) from now on. */
export async function revokeRefreshToken (hash: string, ttlSeconds: number): Promise<void> {
  await callPrimary('sessions.revokeRefresh', { hash, ttlSeconds })
}

/** Whether an IdP refresh token (by hash) was signed out. */
export async function isRefreshRevoked (hash: string): Promise<boolean> {
  return await callPrimary<boolean>('sessions.refreshRevoked', { hash })
}
