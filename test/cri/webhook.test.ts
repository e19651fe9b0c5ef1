/**
 * The CRI content-policy webhook against a real socket: a block, and a webhook that hangs or
 * answers garbage, failed closed (503) or open (let through), each audited.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { PolicyWebhook } from '../../lib/cri/webhook.js'
import { isGatewayError } from '../../lib/errors.js'
import { setLogSink } from '../../lib/log.js'
import { guardedAgent } from '../../lib/net/ssrf.js'

process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'
const lines: string[] = []
setLogSink((l) => { lines.push(l) })
t.teardown(() => setLogSink(undefined))

t.test('block, hang, garbage; closed and open', async (t) => {
  let mode = 'block'
  const server = createServer((rq, res) => {
    rq.resume()
    rq.on('end', () => {
      if (mode === 'hang') return
      if (mode === 'garbage') { res.writeHead(200).end('not json'); return }
      if (mode === 'status') { res.writeHead(500).end('{}'); return }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ block: true, rule_id: 'no-secrets' }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const agent = guardedAgent()
  t.teardown(() => agent.close())
  const s = { requestId: 'req-1', sub: 'cri-user', org: 'org-1', path: '/v1/messages', query: '', headers: {}, body: { model: 'm' } }
  const closed = new PolicyWebhook({ url, timeout_ms: 300, fail_closed: true }, agent)
  const open = new PolicyWebhook({ url, timeout_ms: 300, fail_closed: false }, agent)
  const codeOf = async (p: Promise<void>): Promise<string> => await p.then(() => 'allowed', (e: unknown) => isGatewayError(e) ? `${e.status} ${e.type} ${e.message}` : String(e))

  t.equal(await codeOf(closed.screen(s)), '400 policy_blocked the request was blocked by the content policy', 'block without a reason: the default message')
  t.match(lines.at(-1), /"evt":"policy.blocked".*"rule_id":"no-secrets"/)
  for (const m of ['hang', 'garbage', 'status']) {
    mode = m
    t.match(await codeOf(closed.screen(s)), /^503 api_error the content policy check is unavailable/, `${m}: fail closed`)
    t.equal(await codeOf(open.screen(s)), 'allowed', `${m}: fail open`)
    t.match(lines.filter((l) => l.includes('"evt":"policy.skipped"')).at(-1), /"fail_closed":false/, `${m}: audited policy.skipped`)
  }
})
