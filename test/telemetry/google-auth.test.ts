/**
 * `forward_to[].auth.google`: a Google access token on every relayed request. The token comes
 * from google-auth-library for real, with an external-account (workload identity federation)
 * credential whose token exchange points at a local fake STS — the one Google credential type
 * that can be exercised without reaching Google.
 */
import { createServer } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { guardedAgent } from '../../lib/net/ssrf.js'
import { DEFAULT_DESTINATION_OPTIONS, Destination, type DropReason } from '../../lib/telemetry/destination.js'
import { googleAuthHeaders } from '../../lib/telemetry/google-auth.js'
import { startCollector, until } from './collector.js'

async function fakeSts (t: Test): Promise<{ url: string, calls: () => number, fail: (v: boolean) => void }> {
  let calls = 0
  let failing = false
  const srv = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      calls++
      const form = new URLSearchParams(body)
      if (failing || form.get('subject_token') !== 'subject-token-1') { res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}'); return }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        access_token: 'ya29.fake-access-token', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600,
      }))
    })
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { srv.close(() => resolve()); srv.closeAllConnections() }))
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/token`, calls: () => calls, fail: (v) => { failing = v } }
}

t.test('external-account credential: token fetched once, cached, sent as Authorization', async (t) => {
  const sts = await fakeSts(t)
  const dir = mkdtempSync(join(tmpdir(), 'weir-gauth-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'subject'), 'subject-token-1')
  const cred = {
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/prov',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: sts.url,
    credential_source: { file: join(dir, 'subject') },
  }
  writeFileSync(join(dir, 'cred.json'), JSON.stringify(cred))

  const fromFile = googleAuthHeaders(join(dir, 'cred.json'))
  t.same(await fromFile(), { authorization: 'Bearer ya29.fake-access-token' })
  t.same(await fromFile(), { authorization: 'Bearer ya29.fake-access-token' })
  t.equal(sts.calls(), 1, 'cached until it expires')
  t.same(await googleAuthHeaders(JSON.stringify(cred))(), { authorization: 'Bearer ya29.fake-access-token' }, 'inline JSON works too')

  const c = await startCollector()
  t.teardown(() => c.close())
  const agent = guardedAgent({ allowLoopback: true })
  t.teardown(() => agent.destroy())
  const drops: DropReason[] = []
  let sent = 0
  const d = new Destination({ url: c.url, headers: {}, metrics: true, logs: false, traces: false }, agent,
    { ...DEFAULT_DESTINATION_OPTIONS, authHeaders: fromFile }, { onDrop: (_d, _b, r) => { drops.push(r) }, onSent: () => { sent++ } })
  d.offer({ signal: 'metrics', body: Buffer.from('x'), json: false, gzip: false, release: () => {} })
  await until('sent', () => sent === 1)
  t.equal(c.received[0]?.headers.authorization, 'Bearer ya29.fake-access-token')

  sts.fail(true)
  const broken = new Destination({ url: c.url, headers: {}, metrics: true, logs: false, traces: false }, agent,
    { ...DEFAULT_DESTINATION_OPTIONS, attempts: 1, authHeaders: googleAuthHeaders(JSON.stringify(cred)) }, { onDrop: (_d, _b, r) => { drops.push(r) }, onSent: () => { sent++ } })
  broken.offer({ signal: 'metrics', body: Buffer.from('x'), json: false, gzip: false, release: () => {} })
  await until('dropped', () => drops.length === 1)
  t.same(drops, ['failed'], 'no token: the attempt fails like a network error, nothing is sent')
  t.equal(c.received.length, 1)
})
