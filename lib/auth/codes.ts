/**
 * The two codes of an RFC 8628 device authorization and the `kv` keys they live under.
 *
 * - The device code stays with the CLI: 32 random bytes, base64url (43 characters). It is stored
 *   only as a SHA-256, so a database reader cannot poll for someone else's token.
 * - The user code is typed or confirmed by a person: 8 letters from a 20-letter alphabet with no
 *   vowels or digits (no accidental words, nothing to confuse 0 with O), shown as `XXXX-XXXX`.
 *   20^8 ≈ 2.6e10 codes, and the verification page is rate limited per client address.
 *   Matching ignores case and every character outside A-Z/0-9, so `wdjb mjht` finds `WDJB-MJHT`.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto'

/** Letters a user code is made of (RFC 8628 §6.1 suggests a base-20 set like this). */
export const USER_CODE_ALPHABET = 'BCDFGHJKMNPQRSTVWXYZ'
const USER_CODE_LENGTH = 8

/** A fresh device code (256 bits). */
export function newDeviceCode (): string {
  return randomBytes(32).toString('base64url')
}

/** A fresh user code, `XXXX-XXXX`. Each letter is drawn uniformly. */
export function newUserCode (): string {
  let s = ''
  for (let i = 0; i < USER_CODE_LENGTH; i++) {
    if (i === USER_CODE_LENGTH / 2) s += '-'
    s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]
  }
  return s
}

/** Upper-case, and drop everything but letters and digits. */
export function normaliseUserCode (input: string): string {
  return input.toUpperCase().replace(/[^A-Z0-9]/g, '')
}

/** True when `normalised` could be a code this gateway issued (saves a lookup for junk). */
export function plausibleUserCode (normalised: string): boolean {
  if (normalised.length !== USER_CODE_LENGTH) return false
  for (const c of normalised) if (!USER_CODE_ALPHABET.includes(c)) return false
  return true
}

/** `kv` key of a grant: the device code's SHA-256, never the code itself. */
export function grantKey (deviceCode: string): string {
  return `device:dc:${createHash('sha256').update(deviceCode, 'utf8').digest('hex')}`
}

/** `kv` key mapping a user code to its grant key. */
export function userCodeKey (userCode: string): string {
  return `device:uc:${normaliseUserCode(userCode)}`
}
