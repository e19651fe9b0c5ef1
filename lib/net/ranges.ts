/**
 * Which destination addresses an outbound call may never reach, shared by the boot-time URL
 * checks (lib/config/schema/urls.ts) and the connect-time guard (lib/net/ssrf.ts), so the two can
 * never disagree.
 *
 * An address is one of:
 *   - `metadata`: a cloud metadata service or anything link-local — 169.254.0.0/16, fe80::/10,
 *     100.100.100.200 (Alibaba), 168.63.129.16 (Azure wireserver), 192.0.0.192 (Oracle),
 *     0.0.0.0/8 other than 0.0.0.0 itself, and the AWS/GCP/Azure IPv6 metadata addresses
 *     (fd00:ec2::254, fd00:ec2::23, fd20:ce::254, ...). Always refused.
 *   - `loopback`: 127.0.0.0/8, ::1, and the unspecified addresses 0.0.0.0 and :: (which the
 *     kernel dials as loopback). Refused unless CLAUDE_GATEWAY_ALLOW_LOOPBACK is set.
 *   - `null`: anything else, private ranges included (RFC 1918, CGNAT, IPv6 unique-local
 *     fc00::/7 apart from the metadata addresses above): gateways talk to internal services.
 *
 * IPv6 forms that carry an IPv4 address are judged by the IPv4 address they carry: IPv4-mapped
 * `::ffff:a.b.c.d` (parseAddr already unwraps it), IPv4-compatible `::a.b.c.d` (deprecated, but a
 * kernel may still route it), NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, and 6to4 `2002::/16`.
 * A NAT64 or 6to4 gateway would forward to the embedded IPv4 address, so `64:ff9b::a9fe:a9fe`
 * is the metadata service.
 */
import { CidrList, parseAddr, type Addr } from './cidr.js'

export type AddrClass = 'metadata' | 'loopback'

const METADATA = new CidrList([
  '169.254.0.0/16', '100.100.100.200', '168.63.129.16', '192.0.0.192', '0.0.0.0/8',
  'fe80::/10', 'fd00:ec2::254', 'fd00:ec2::23', 'fd20:ce::254', 'fd00:c1::a9fe:a9fe', 'fd00:a9fe:a9fe::1',
])
const LOOPBACK = new CidrList(['127.0.0.0/8', '::1', '0.0.0.0', '::'])
const V4_COMPAT = new CidrList(['::/96'])
const NAT64 = new CidrList(['64:ff9b::/96'])
const NAT64_LOCAL = new CidrList(['64:ff9b:1::/48'])
const SIX_TO_FOUR = new CidrList(['2002::/16'])

/** Host names of metadata services, refused before any lookup. */
export const METADATA_NAMES: ReadonlySet<string> = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal'])

const v4 = (n: bigint): Addr => ({ v6: false, n: Number(n & 0xffffffffn) })

/** The IPv4 addresses an IPv6 address carries (compatible, NAT64 and 6to4 forms). */
export function embeddedV4 (a: Addr): Addr[] {
  if (!a.v6) return []
  const out: Addr[] = []
  // ::a.b.c.d, but not :: and ::1 themselves (they are classed on their own)
  if (V4_COMPAT.has(a) && a.n > 0xffffn) out.push(v4(a.n))
  if (NAT64.has(a) || NAT64_LOCAL.has(a)) out.push(v4(a.n))
  if (SIX_TO_FOUR.has(a)) out.push(v4(a.n >> 80n))
  return out
}

/** The class of an address (see the header), or null when it may be dialled. */
export function classifyAddr (a: Addr): AddrClass | null {
  if (LOOPBACK.has(a)) return 'loopback'
  if (METADATA.has(a)) return 'metadata'
  let worst: AddrClass | null = null
  for (const e of embeddedV4(a)) {
    const c = classifyAddr(e)
    if (c === 'metadata') return c
    if (c !== null) worst = c
  }
  return worst
}

/** The class of a host that is an IP literal (brackets, zone id and a trailing dot allowed), or null. */
export function classifyLiteral (host: string): AddrClass | null {
  const a = parseAddr(host.replace(/\.$/, ''))
  return a === null ? null : classifyAddr(a)
}

/** Why `a` may not be dialled, in the guard's words, or null when it may. */
export function blockedReason (a: Addr, allowLoopback: boolean): string | null {
  const c = classifyAddr(a)
  if (c === 'metadata') return 'cloud metadata / link-local'
  if (c === 'loopback' && !allowLoopback) return 'loopback'
  return null
}
