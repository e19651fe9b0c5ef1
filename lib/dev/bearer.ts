/**
 * A session token for the `weir dev` user, so the CLI can be pointed at the dev gateway without a
 * browser sign-in. Returns null while session minting is not available.
 */
import type { Config } from '../config/schema.js'

export interface DevIdentity { sub: string, email: string, name: string, groups: string[] }

export async function devBearer (_config: Readonly<Config>, _who: DevIdentity): Promise<string | null> {
  return null
}
