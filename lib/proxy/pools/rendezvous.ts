/**
 * Weighted rendezvous (highest-random-weight) hashing: which member of a pool a key prefers, and in
 * what order it would fall back to the others.
 *
 * Invariants:
 *   - Stateless and deterministic: the ranking depends only on the key, the members' names and
 *     their weights — never on the process, the worker, the order members are listed in, or time.
 *     Two workers or two replicas with the same pool rank every key the same way.
 *   - Each member's score for a key is computed from that key and that member alone, so adding or
 *     removing a member changes only which keys prefer that member: removing one of N moves only
 *     the keys whose first choice it was (each to its second choice), and nothing else moves.
 *   - A member of weight w is the first choice of a share w / Σw of keys (score −w / ln u, with u
 *     uniform in (0, 1) from the hash).
 * The hash is a 53-bit value from two 32-bit FNV-1a passes over the key with a murmur-style
 * finaliser, mixed with a per-member seed taken from the member's name. It is not cryptographic:
 * a client that chooses its session id can choose its upstream, which is harmless.
 */

/** 32-bit avalanche finaliser. */
function fmix (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** FNV-1a over the string's UTF-16 code units, from `basis`, finalised. */
function fnv (s: string, basis: number): number {
  let h = basis >>> 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return fmix(h)
}

/** Two independent 32-bit hashes of a key. */
export interface KeyHash { readonly a: number, readonly b: number }

export function hashKey (key: string): KeyHash {
  return { a: fnv(key, 0x811c9dc5), b: fnv(key, 0x2f0b3c6d) }
}

export interface Member {
  readonly name: string
  readonly weight: number
  /** Per-member seeds, from the name. */
  readonly s1: number
  readonly s2: number
}

export function member (name: string, weight: number): Member {
  return { name, weight, s1: fnv(name, 0x9e3779b9), s2: fnv(name, 0x7f4a7c15) }
}

/** A uniform value in (0, 1) for this key and member (53 bits). */
export function unit (k: KeyHash, m: Member): number {
  const hi = fmix(k.a ^ m.s1)
  const lo = fmix((k.b ^ m.s2) + hi)
  return (hi * 2097152 + (lo >>> 11) + 0.5) / 9007199254740992
}

/** The member's score for the key: higher is preferred. */
export function score (k: KeyHash, m: Member): number {
  return -m.weight / Math.log(unit(k, m))
}

/** Indexes of `members` from the key's first choice to its last. Ties (practically impossible) go by name. */
export function rank (key: string, members: readonly Member[]): number[] {
  const k = hashKey(key)
  const scores = members.map((m) => score(k, m))
  const order = members.map((_, i) => i)
  order.sort((x, y) => (scores[y] as number) - (scores[x] as number) || ((members[x] as Member).name < (members[y] as Member).name ? -1 : 1))
  return order
}
