/**
 * An attacker's toolbox for the security tests: sign arbitrary JWTs (any header, any key), and
 * re-spell a genuine token so that a lenient base64url decoder reads the same bytes while the text
 * (and so any hash of the text) differs.
 */
import { createHmac } from 'node:crypto'

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** A JWT with `header` and `payload`, HMAC-SHA256-signed with `secret` (or with `sig` verbatim). */
export function forge (header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | { sig: string }): string {
  const hp = `${b64(header)}.${b64(payload)}`
  const sig = typeof secret === 'string' ? createHmac('sha256', secret).update(hp).digest('base64url') : secret.sig
  return `${hp}.${sig}`
}

/** Claims a genuine Weir token carries, for `sub` and `groups`, valid for an hour from now. */
export function claims (sub: string, groups: string[] = [], more: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { sub, email: `${sub}@example.com`, name: sub, groups, aud: 'claude-gateway', iat: now, exp: now + 3600, ...more }
}

/** Flip the lowest bit of the last character: only spare bits change when the length leaves some. */
function spareBits (seg: string): string | undefined {
  if (seg.length % 4 !== 2 && seg.length % 4 !== 3) return undefined
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const i = alphabet.indexOf(seg.slice(-1))
  return seg.slice(0, -1) + alphabet[i ^ 1]
}

/**
 * Every re-spelling of `token` a lenient decoder reads as the same bytes, as [what, spelling]:
 * padding, the standard alphabet, a stray character, and changed spare low bits, in each segment.
 */
export function respellings (token: string): Array<[string, string]> {
  const segs = token.split('.')
  const names = ['header', 'payload', 'signature']
  const out: Array<[string, string]> = []
  segs.forEach((seg, i) => {
    const variants: Array<[string, string | undefined]> = [
      ['padding =', `${seg}=`],
      ['padding ==', `${seg}==`],
      ['standard alphabet +/', seg.replace(/-/g, '+').replace(/_/g, '/')],
      ['stray !', `${seg.slice(0, 5)}!${seg.slice(5)}`],
      ['stray * at the end', `${seg}*`],
      ['spare low bits', spareBits(seg)],
    ]
    for (const [what, v] of variants) {
      if (v === undefined || v === seg) continue
      const copy = [...segs]
      copy[i] = v
      out.push([`${names[i] ?? i}: ${what}`, copy.join('.')])
    }
  })
  return out
}

/** Whether a re-spelling decodes to the same bytes as the original (so a lenient verifier sees no change). */
export function sameBytes (a: string, b: string): boolean {
  const x = a.split('.')
  const y = b.split('.')
  return x.length === y.length && x.every((s, i) => Buffer.from(s, 'base64url').equals(Buffer.from(y[i] as string, 'base64url')))
}
