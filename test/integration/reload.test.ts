/**
 * Live config reload against a real gateway (two worker threads, Postgres, IdP, a fake Anthropic
 * upstream): a policy change reaches clients, the managed-settings checksum changes, a rotated
 * `${file:}` secret is used, a bad file keeps the running config and says so in /readyz and the
 * metrics, a needs-restart key is reported and not applied, a stream started before a reload
 * finishes on its old config, and requests across a reload all succeed without mixing configs.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { settingsChecksum } from '../../lib/policy/index.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { prometheusUrl } from '../../lib/telemetry/exporter.js'
import { startFakeUpstream, simpleStream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const ring = keyRing([TEST_SECRET])
const BOB = { authorization: `Bearer ${mintToken(ring, { sub: 'u-bob', email: 'bob@corp.example', groups: ['contractors'] }, { ttlHours: 1 }).token}` }
const OPUS = JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, stream: true, messages: [] })

const post = async (url: string, body = OPUS) =>
  await req(`${url}/v1/messages`, { method: 'POST', headers: { ...BOB, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body })

t.test('live reload on a running gateway', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-reload-'))
  const file = join(dir, 'gateway.yaml')
  const keyFile = join(dir, 'upstream-key')
  writeFileSync(keyFile, 'sk-first\n')
  let gate: Promise<void> | undefined
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream(), ...(gate !== undefined ? { gate, gateAfter: 2 } : {}) }))
  t.teardown(() => fake.close())

  // The config object the file is written from; each step edits it and rewrites the file.
  let cfg: Record<string, any> = {} // eslint-disable-line @typescript-eslint/no-explicit-any
  const write = (edit: (c: Record<string, any>) => void): void => { edit(cfg); writeFileSync(file, stringify(cfg)) } // eslint-disable-line @typescript-eslint/no-explicit-any
  const { gw, url } = await startTestGateway(t, {
    workers: 2,
    configFile: file,
    config: (c) => {
      c.upstreams = [{ provider: 'anthropic', name: 'main', base_url: fake.url, auth: { api_key: `\${file:${keyFile}}` }, headers: { 'x-config': 'one' } }]
      c.managed = { policies: [{ match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'] } }, { match: {}, cli: {} }] }
      c.telemetry = { gateway_metrics: { prometheus: { port: 0 } } }
      cfg = c
    },
  })
  const metrics = async (): Promise<string> => await (await fetch(prometheusUrl() ?? '')).text()

  await t.test('a policy change reaches every worker; clients see the new settings checksum', async (t) => {
    t.equal((await post(url)).status, 400, 'opus is not allowed for contractors at boot')
    const before = (await req(`${url}/managed/settings`, { headers: BOB })).json()
    write((c) => { c.managed.policies[0].cli.availableModels = ['haiku', 'claude-opus-4-8'] })
    const out = await gw.reload('test')
    t.equal(out.ok, true)
    t.equal(out.generation, 2)
    t.same(out.restart, [], 'nothing waits for a restart')
    for (let i = 0; i < 10; i++) t.equal((await post(url)).status, 200, `request ${i} sees the new policy`)
    const after = (await req(`${url}/managed/settings`, { headers: BOB })).json()
    t.not(after.checksum, before.checksum, 'the managed-settings checksum changed')
    t.equal(after.checksum, settingsChecksum(after.settings))
    t.same(after.settings.availableModels, ['haiku', 'claude-opus-4-8'])
    const readyz = await req(`${url}/readyz`)
    t.equal(readyz.text, 'ready')
  })

  await t.test('a rotated ${file:} secret is used after the reload', async (t) => {
    await post(url)
    t.equal(fake.requests.at(-1)?.headers['x-api-key'], 'sk-first')
    writeFileSync(keyFile, 'sk-second\n')
    await post(url)
    t.equal(fake.requests.at(-1)?.headers['x-api-key'], 'sk-first', 'nothing changes before the reload')
    const out = await gw.reload('test')
    t.equal(out.ok, true)
    t.ok(out.applied.some((c) => c.path.join('.') === 'upstreams.0.auth.api_key'))
    for (let i = 0; i < 6; i++) await post(url)
    t.ok(fake.requests.slice(-6).every((r) => r.headers['x-api-key'] === 'sk-second'), 'every worker sends the new key')
  })

  await t.test('a bad file keeps the running config; readiness and the metric say so', async (t) => {
    const good = stringify(cfg)
    writeFileSync(file, `${good}surprise_key: 1\n`)
    const out = await gw.reload('test')
    t.equal(out.ok, false)
    t.match(out.errors[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ `), 'file:line:column')
    t.equal(gw.current().config.upstreams.length, 1)
    t.equal((await post(url)).status, 200, 'the running policy still applies')
    const readyz = await req(`${url}/readyz`)
    t.equal(readyz.status, 200, 'still ready: the last good config is served')
    t.match(readyz.text, /last config reload failed at .*gateway\.yaml:\d+:\d+/)
    t.match(await metrics(), /weir_config_reload_failed(\{[^}]*\})? 1\b/)
    t.match(await metrics(), /weir_config_reloads(_total)?\{result="failed"\} 1\b/)

    writeFileSync(file, good)
    const fixed = await gw.reload('test')
    t.equal(fixed.ok, true)
    t.equal((await req(`${url}/readyz`)).text, 'ready', 'a good reload clears the detail')
    t.match(await metrics(), /weir_config_reload_failed(\{[^}]*\})? 0\b/)
  })

  await t.test('needs-restart keys are reported and not applied; the rest applies', async (t) => {
    const port = gw.port
    write((c) => { c.listen.port = port + 1; c.store.max_connections = 9; c.upstreams[0].headers['x-config'] = 'two' })
    const out = await gw.reload('test')
    t.equal(out.ok, true)
    t.same(out.restart.map((c) => c.path.join('.')).sort(), ['listen.port', 'store.max_connections'])
    t.same(out.applied.map((c) => c.path.join('.')), ['upstreams.0.headers.x-config'])
    t.equal(gw.current().config.listen.port, 0, 'the running listen.port stays')
    t.equal(gw.current().config.store.max_connections, 4, 'the running store settings stay')
    t.equal((await req(`${url}/healthz`)).status, 200, 'still serving on the old port')
    await post(url)
    t.equal(fake.requests.at(-1)?.headers['x-config'], 'two', 'the live change applied')
    t.match((await req(`${url}/readyz`)).text, /restart needed to apply: listen\.port, store\.max_connections/)
  })

  await t.test('a stream started before a reload finishes on its config', async (t) => {
    let open!: () => void
    gate = new Promise<void>((resolve) => { open = resolve })
    const n = fake.requests.length
    const streaming = post(url)
    while (fake.requests.length === n) await new Promise((resolve) => setTimeout(resolve, 10))
    gate = undefined
    writeFileSync(keyFile, 'sk-third\n')
    write((c) => { c.upstreams[0].headers['x-config'] = 'three' })
    t.equal((await gw.reload('test')).ok, true)
    await post(url)
    t.equal(fake.requests.at(-1)?.headers['x-api-key'], 'sk-third', 'a new request uses the new generation')
    open()
    const r = await streaming
    t.equal(r.status, 200)
    t.match(r.text, /message_stop/, 'the old stream completed, its upstream pool was not closed under it')
    t.equal(fake.requests[n]?.headers['x-api-key'], 'sk-second')
    t.equal(fake.requests[n]?.headers['x-config'], 'two')
  })

  await t.test('200 requests across a reload: none fails, none mixes two configs', async (t) => {
    const n = fake.requests.length
    let sent = 0
    let reloaded = false
    const statuses: number[] = []
    const client = async (): Promise<void> => {
      while (sent < 200) {
        sent++
        if (sent === 100 && !reloaded) {
          reloaded = true
          writeFileSync(keyFile, 'sk-fourth\n')
          write((c) => { c.upstreams[0].headers['x-config'] = 'four' })
          void gw.reload('test')
        }
        statuses.push((await post(url)).status)
      }
    }
    await Promise.all(Array.from({ length: 8 }, client))
    t.equal(statuses.length, 200)
    t.ok(statuses.every((s) => s === 200), `all succeeded: ${JSON.stringify(statuses.filter((s) => s !== 200))}`)
    const seen = fake.requests.slice(n).map((r) => `${String(r.headers['x-api-key'])}/${String(r.headers['x-config'])}`)
    t.equal(seen.length, 200)
    t.ok(seen.every((s) => s === 'sk-third/three' || s === 'sk-fourth/four'), `every request used one whole config: ${[...new Set(seen)].join(', ')}`)
    t.ok(seen.includes('sk-fourth/four'), 'the new config was applied during the run')
  })
})
