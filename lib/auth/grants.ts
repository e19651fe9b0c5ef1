/**
 * Device grants in the shared `kv` table, so any replica can finish a flow another one started.
 *
 *   device:dc:<sha256(device_code)>  → sealed grant (lib/auth/seal.ts), 600 s
 *   device:uc:<USERCODE>             → that grant key, 600 s, deleted once the grant is decided
 *
 * A grant is `pending` until the browser side decides it: `complete` (holding the session token,
 * the IdP refresh token and the approving email) or `denied`. Every transition is a
 * compare-and-swap on the stored blob, so a callback and a deny racing for one grant cannot both
 * win, and the token endpoint hands a decided grant out once (read-and-delete).
 */
import { kvDelete, kvGet, kvTake } from '../store/client.js'
import { kvAdd, kvSwap } from '../session/client.js'
import { grantKey, newDeviceCode, newUserCode, normaliseUserCode, plausibleUserCode, userCodeKey } from './codes.js'
import { type SealKey, seal, unseal } from './seal.js'

/** Lifetime of a device authorization, seconds (the response's `expires_in`). */
export const GRANT_TTL_S = 600

interface Base { user_code: string, created_at: number }
export interface PendingGrant extends Base { status: 'pending', client_ip: string }
export interface CompleteGrant extends Base {
  status: 'complete'
  access_token: string
  expires_in: number
  refresh_token?: string
  email?: string
}
export interface DeniedGrant extends Base { status: 'denied' }
export type Grant = PendingGrant | CompleteGrant | DeniedGrant

/** A grant as read, with the stored blob for compare-and-swap. */
export interface Loaded { key: string, blob: string, grant: Grant }

export class Grants {
  constructor (private readonly keys: readonly SealKey[]) {}

  /** Start a device authorization. Returns the codes to hand to the client. */
  async create (clientIp: string): Promise<{ deviceCode: string, userCode: string }> {
    const deviceCode = newDeviceCode()
    const key = grantKey(deviceCode)
    for (let attempt = 0; attempt < 5; attempt++) {
      const userCode = newUserCode()
      const grant: PendingGrant = { status: 'pending', user_code: userCode, created_at: Date.now(), client_ip: clientIp }
      // The user code is claimed first: a collision with a live code (about one in 2.6e10) retries.
      if (!await kvAdd(userCodeKey(userCode), key, GRANT_TTL_S)) continue
      if (!await kvAdd(key, await seal(this.keys, 'device_grant', { r: grant }, GRANT_TTL_S), GRANT_TTL_S)) {
        throw new Error('device code collision') // 2^-256: a broken random source, not bad luck
      }
      return { deviceCode, userCode }
    }
    throw new Error('could not allocate a unique user code')
  }

  /** The grant key a user code points at, or null (unknown, expired, already decided). */
  async keyForUserCode (input: string): Promise<string | null> {
    const code = normaliseUserCode(input)
    if (!plausibleUserCode(code)) return null
    return await kvGet(userCodeKey(code))
  }

  private async open (blob: string): Promise<Grant | null> {
    const p = await unseal<{ r?: Grant }>(this.keys, 'device_grant', blob)
    return p?.r ?? null
  }

  /** Read a grant by its key. */
  async load (key: string): Promise<Loaded | null> {
    const blob = await kvGet(key)
    if (blob === null) return null
    const grant = await this.open(blob)
    return grant === null ? null : { key, blob, grant }
  }

  /** Read a grant by device code. */
  async loadByDeviceCode (deviceCode: string): Promise<Loaded | null> {
    return await this.load(grantKey(deviceCode))
  }

  /**
   * Decide a pending grant (compare-and-swap against `from`). On success the user code stops
   * working. Returns false when something else decided it first.
   */
  async decide (from: Loaded, to: CompleteGrant | DeniedGrant): Promise<boolean> {
    const ok = await kvSwap(from.key, from.blob, await seal(this.keys, 'device_grant', { r: to }, GRANT_TTL_S), GRANT_TTL_S)
    if (ok) await kvDelete(userCodeKey(from.grant.user_code)).catch(() => false)
    return ok
  }

  /** Hand out a decided grant once: read-and-delete. Null when another poll took it first. */
  async take (key: string): Promise<Grant | null> {
    const blob = await kvTake(key)
    return blob === null ? null : await this.open(blob)
  }
}
