/**
 * A session token for the `weir dev` user, so the CLI can be pointed at the dev gateway without a
 * browser sign-in. It is an ordinary session token (same key ring, claims and lifetime as one the
 * device flow mints), so every bearer endpoint accepts it and it expires after session.ttl_hours.
 */
import type { Config } from '../config/schema.js'
import { keyRing, mintToken } from '../session/token.js'

export interface DevIdentity { sub: string, email: string, name: string, groups: string[] }

export async function devBearer (config: Readonly<Config>, who: DevIdentity): Promise<string | null> {
  const tag = config.admin?.billing_group_tag
  return mintToken(keyRing(config.session.jwt_secret), { ...who, ...(tag !== undefined ? { billingGroupTag: tag } : {}) }, {
    ttlHours: config.session.ttl_hours,
    issuer: config.listen.public_url,
  }).token
}
