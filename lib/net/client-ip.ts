/**
 * Which address a request came from, for allow/deny lists, rate limits and audit lines.
 *
 * Start from the TCP peer. Only when the peer is a trusted proxy is `X-Forwarded-For` consulted:
 * its entries are walked right to left (nearest hop first) and the first one that is not itself a
 * trusted proxy is the client. An entry that does not parse means the header cannot be trusted, so
 * the peer is used; when every hop is trusted, the peer is used too. Entries may carry a port
 * (`1.2.3.4:5678`, `[2001:db8::1]:443`), which is dropped.
 */
import { type CidrList, formatAddr, parseAddr } from './cidr.js'

function stripPort (entry: string): string {
  const s = entry.trim()
  if (s.startsWith('[')) {
    const end = s.indexOf(']')
    return end > 0 ? s.slice(1, end) : s
  }
  const colon = s.indexOf(':')
  // exactly one colon: IPv4 with a port; more than one: bare IPv6
  if (colon > 0 && s.indexOf(':', colon + 1) < 0) return s.slice(0, colon)
  return s
}

/**
 * @param peer   TCP peer address as text (IPv4-mapped IPv6 is normalised).
 * @param xff    The `X-Forwarded-For` header, or '' when absent.
 * @param trusted `listen.trusted_proxies`.
 */
export function resolveClientIp (peer: string, xff: string, trusted: CidrList): string {
  const p = parseAddr(peer)
  const peerText = p === null ? (peer === '' ? 'unknown' : peer) : formatAddr(p)
  if (trusted.empty || p === null || !trusted.has(p) || xff === '') return peerText
  const hops = xff.split(',')
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = parseAddr(stripPort(hops[i] as string))
    if (a === null) return peerText
    if (!trusted.has(a)) return formatAddr(a)
  }
  return peerText
}
