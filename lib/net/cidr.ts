/**
 * IP addresses and CIDR blocks as compact numbers, for allow/deny lists, trusted proxies and the
 * SSRF guard. IPv4 is kept as a 32-bit number, IPv6 as a 128-bit bigint; an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`) is normalised to IPv4 everywhere.
 */
import { isIP } from 'node:net'

export interface Cidr {
  readonly v6: boolean
  /** Network address: number for IPv4, bigint for IPv6. */
  readonly net: number | bigint
  readonly bits: number
  /** The text it was parsed from. */
  readonly text: string
}

/** An address parsed for matching. */
export type Addr = { v6: false, n: number } | { v6: true, n: bigint }

function parseV4 (s: string): number | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  let n = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null
    const v = Number(p)
    if (v > 255) return null
    n = n * 256 + v
  }
  return n
}

function parseV6 (s: string): bigint | null {
  if (isIP(s) !== 6) return null
  let head = s
  let tailV4: number | null = null
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.', lastColon)) {
    tailV4 = parseV4(s.slice(lastColon + 1))
    if (tailV4 === null) return null
    head = s.slice(0, lastColon + 1) + '0:0'
  }
  const [left = '', right] = head.split('::')
  const l = left === '' ? [] : left.split(':')
  const r = right === undefined ? [] : (right === '' ? [] : right.split(':'))
  const groups = right === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill('0'), ...r]
  if (groups.length !== 8) return null
  let n = 0n
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16))
  if (tailV4 !== null) n = (n & ~0xffffffffn) | BigInt(tailV4)
  return n
}

/** Parse an IP address (optionally `[v6]`, optionally with a zone id). Returns null when it is not an IP. */
export function parseAddr (text: string): Addr | null {
  let s = text.trim()
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  const pct = s.indexOf('%')
  if (pct >= 0) s = s.slice(0, pct)
  const v4 = parseV4(s)
  if (v4 !== null) return { v6: false, n: v4 }
  const v6 = parseV6(s)
  if (v6 === null) return null
  if ((v6 >> 32n) === 0xffffn) return { v6: false, n: Number(v6 & 0xffffffffn) }
  return { v6: true, n: v6 }
}

/** Canonical text of an address (IPv4-mapped IPv6 becomes dotted IPv4). */
export function formatAddr (a: Addr): string {
  if (!a.v6) return [a.n >>> 24, (a.n >>> 16) & 255, (a.n >>> 8) & 255, a.n & 255].join('.')
  const groups: string[] = []
  for (let i = 7; i >= 0; i--) groups.push(((a.n >> BigInt(i * 16)) & 0xffffn).toString(16))
  // compress the longest run of zero groups
  let best = -1; let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i }
    i = j
  }
  if (best < 0) return groups.join(':')
  return groups.slice(0, best).join(':') + '::' + groups.slice(best + bestLen).join(':')
}

/** Parse `addr` or `addr/bits`. Returns null when invalid. */
export function parseCidr (text: string): Cidr | null {
  const slash = text.indexOf('/')
  const ipText = slash < 0 ? text : text.slice(0, slash)
  const a = parseAddr(ipText)
  if (a === null) return null
  const max = a.v6 ? 128 : 32
  let bits = max
  if (slash >= 0) {
    const b = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(b)) return null
    bits = Number(b)
    // a mapped v6 prefix written as ::ffff:a.b.c.d/120 becomes an IPv4 /24
    if (!a.v6 && isIP(ipText.replace(/^\[|\]$/g, '')) === 6) bits -= 96
    if (bits < 0 || bits > max) return null
  }
  if (a.v6) {
    const mask = bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n)
    return { v6: true, net: a.n & mask, bits, text }
  }
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  return { v6: false, net: (a.n & mask) >>> 0, bits, text }
}

export function cidrContains (c: Cidr, a: Addr): boolean {
  if (c.v6 !== a.v6) return false
  if (!a.v6) {
    const mask = c.bits === 0 ? 0 : (0xffffffff << (32 - c.bits)) >>> 0
    return ((a.n & mask) >>> 0) === c.net
  }
  const mask = c.bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - c.bits)) - 1n)
  return (a.n & mask) === c.net
}

/** A compiled list of blocks. */
export class CidrList {
  readonly blocks: readonly Cidr[]
  constructor (entries: readonly string[]) {
    const out: Cidr[] = []
    for (const e of entries) {
      const c = parseCidr(e)
      if (c === null) throw new TypeError(`not a valid IP or CIDR: ${e}`)
      out.push(c)
    }
    this.blocks = out
  }

  get empty (): boolean { return this.blocks.length === 0 }

  /** True when `ip` (text or parsed) lies in any block. An unparseable address matches nothing. */
  has (ip: string | Addr | null): boolean {
    const a = typeof ip === 'string' ? parseAddr(ip) : ip
    if (a === null) return false
    for (const c of this.blocks) if (cidrContains(c, a)) return true
    return false
  }
}
