/**
 * CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME with `oidc.use_proxy: true` (lib/auth/idp-http.ts),
 * against a real local CONNECT proxy that records what it is asked for.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { IdpHttp } from '../../lib/auth/idp-http.js'

/** A forward proxy: records CONNECT targets; answers 403. */
async function proxy (): Promise<{ url: string, seen: string[], server: Server }> {
  const seen: string[] = []
  const server = createServer((req, res) => { seen.push(`${req.method ?? ''} ${req.url ?? ''}`); res.writeHead(403).end() })
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url ?? ''}`)
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server }
}

t.test('https IdP hostnames reach the proxy unresolved; http:// is refused; NO_PROXY hosts go direct', async (t) => {
  const p = await proxy()
  t.teardown(() => { p.server.close() })
  const host = 'idp.weir-connect-test.invalid' // never resolves locally
  const on = new IdpHttp({ use_proxy: true }, { HTTPS_PROXY: p.url, HTTP_PROXY: p.url, NO_PROXY: 'direct.example.invalid', CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '1' })
  t.teardown(async () => { await on.close() })
  await t.rejects(on.request(`https://${host}/token`, {}), /did not answer/, 'the proxy refuses it here')
  t.same(p.seen, [`CONNECT ${host}:443`], 'the proxy was asked for the hostname, not an address')

  p.seen.length = 0
  await t.rejects(on.request(`http://${host}/token`, {}), /blocked http:\/\/ IdP endpoint through the proxy/)
  t.same(p.seen, [], 'an http:// endpoint never reaches the proxy')

  await t.rejects(on.request('https://direct.example.invalid/token', {}), /did not answer/)
  t.same(p.seen, [], 'a NO_PROXY host goes direct (and fails to resolve here)')

  await t.rejects(on.request('https://169.254.169.254/latest', {}), /did not answer/)
  t.same(p.seen, [], 'an IP literal is still checked by the guard before the proxy')

  // without the switch the gateway resolves the name itself first, so the proxy never sees it
  const off = new IdpHttp({ use_proxy: true }, { HTTPS_PROXY: p.url, NO_PROXY: 'localhost' })
  t.teardown(async () => { await off.close() })
  await t.rejects(off.request(`https://${host}/token`, {}), /did not answer/)
  t.same(p.seen, [], 'resolved locally first: the unresolvable name fails before the proxy')
})

t.test('without use_proxy the switch changes nothing', async (t) => {
  const p = await proxy()
  t.teardown(() => { p.server.close() })
  const http = new IdpHttp({}, { HTTPS_PROXY: p.url, CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '1' })
  t.teardown(async () => { await http.close() })
  await t.rejects(http.request('https://idp.weir-connect-test.invalid/x', {}), /did not answer/)
  t.same(p.seen, [])
})
