import t from 'tap'
import { CidrList, formatAddr, parseAddr, parseCidr } from '../../lib/net/cidr.js'

/** An address in the one spelling the gateway logs and compares (`formatAddr` of `parseAddr`). */
const normaliseIp = (text: string): string => { const a = parseAddr(text); return a === null ? text : formatAddr(a) }
import { resolveClientIp } from '../../lib/net/client-ip.js'

t.test('addresses parse and normalise', async (t) => {
  t.equal(normaliseIp('10.1.2.3'), '10.1.2.3')
  t.equal(normaliseIp('::ffff:10.1.2.3'), '10.1.2.3', 'IPv4-mapped IPv6 becomes IPv4')
  t.equal(normaliseIp('::FFFF:0a01:0203'), '10.1.2.3', 'hex form of a mapped address too')
  t.equal(normaliseIp('[2001:db8::1]'), '2001:db8::1')
  t.equal(normaliseIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1')
  t.equal(normaliseIp('fe80::1%eth0'), 'fe80::1', 'zone id dropped')
  t.equal(normaliseIp('::1'), '::1')
  t.equal(normaliseIp('::'), '::')
  t.equal(parseAddr('256.1.1.1'), null)
  t.equal(parseAddr('1.2.3'), null)
  t.equal(parseAddr('example.com'), null)
  t.equal(parseAddr('01.2.3.4')?.v6, false)
  const a = parseAddr('1:2:3:4:5:6:7:8')
  t.ok(a !== null && formatAddr(a) === '1:2:3:4:5:6:7:8')
})

t.test('CIDR membership', async (t) => {
  const l = new CidrList(['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '203.0.113.7'])
  t.ok(l.has('10.255.0.1'))
  t.ok(l.has('::ffff:10.0.0.9'), 'mapped address matches an IPv4 block')
  t.notOk(l.has('11.0.0.1'))
  t.ok(l.has('192.168.1.200'))
  t.notOk(l.has('192.168.2.1'))
  t.ok(l.has('2001:db8:ffff::1'))
  t.notOk(l.has('2001:db9::1'))
  t.ok(l.has('203.0.113.7'))
  t.notOk(l.has('203.0.113.8'))
  t.notOk(l.has('garbage'))
  t.notOk(new CidrList([]).has('1.2.3.4'))
  t.ok(new CidrList(['0.0.0.0/0']).has('8.8.8.8'))
  t.notOk(new CidrList(['0.0.0.0/0']).has('::2'), 'an IPv4 block never matches IPv6')
  t.ok(new CidrList(['::/0']).has('::2'))
  t.ok(new CidrList(['::ffff:10.0.0.0/104']).has('10.1.1.1'), 'mapped prefix is treated as IPv4 /8')
  t.throws(() => new CidrList(['10.0.0.0/33']), /not a valid IP or CIDR/)
  t.throws(() => new CidrList(['10.0.0.0/x']))
  t.equal(parseCidr('10.1.2.3/8')?.net, 10 * 2 ** 24, 'host bits are masked off')
})

t.test('client IP: X-Forwarded-For only behind trusted proxies, walked right to left', async (t) => {
  const trusted = new CidrList(['10.0.0.0/8', '127.0.0.1'])
  const none = new CidrList([])
  t.equal(resolveClientIp('203.0.113.9', '1.2.3.4', trusted), '203.0.113.9', 'untrusted peer: header ignored')
  t.equal(resolveClientIp('127.0.0.1', '1.2.3.4', none), '127.0.0.1', 'no trusted proxies: header ignored')
  t.equal(resolveClientIp('::ffff:127.0.0.1', '198.51.100.1', trusted), '198.51.100.1')
  t.equal(resolveClientIp('127.0.0.1', '6.6.6.6, 198.51.100.1, 10.0.0.5', trusted), '198.51.100.1', 'first untrusted hop from the right')
  t.equal(resolveClientIp('127.0.0.1', '10.0.0.1, 10.0.0.2', trusted), '127.0.0.1', 'all hops trusted: the peer')
  t.equal(resolveClientIp('127.0.0.1', 'bogus, 198.51.100.1', trusted), '198.51.100.1', 'stops before the bogus entry')
  t.equal(resolveClientIp('127.0.0.1', '198.51.100.1, bogus', trusted), '127.0.0.1', 'unparseable nearest hop: the peer')
  t.equal(resolveClientIp('127.0.0.1', '198.51.100.1:5555', trusted), '198.51.100.1', 'IPv4 with port')
  t.equal(resolveClientIp('127.0.0.1', '[2001:db8::7]:443', trusted), '2001:db8::7', 'bracketed IPv6 with port')
  t.equal(resolveClientIp('127.0.0.1', '2001:db8::8', trusted), '2001:db8::8', 'bare IPv6')
  t.equal(resolveClientIp('127.0.0.1', '', trusted), '127.0.0.1')
  t.equal(resolveClientIp('', '', trusted), 'unknown')
})
