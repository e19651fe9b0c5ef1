/**
 * Live reload of what the primary's modules own (workers/primary-modules.ts `Running.reload`), on
 * a real gateway (two worker threads, Postgres, a fake Anthropic upstream, real local collectors):
 *   - telemetry.forward_to moved from collector A to collector B: bodies posted after the reload
 *     reach B and never A; bodies already queued for A when the reload happened are all still
 *     delivered to A (none lost, none duplicated);
 *   - pricing: a request metered before the reload keeps its price, one after it is priced with
 *     the new multiplier.
 * Every wait is a bounded poll; nothing asserts time.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { bucketKey } from '../../lib/metering/periods.js'
import { prometheusUrl } from '../../lib/telemetry/exporter.js'
import { startTestGateway } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { startCollector, until, type Received } from '../telemetry/collector.js'
import { decode, otlpBody } from '../telemetry/otlp-fixtures.js'
import { bearer, eventually, oneCentUpstream, post, spendConfig } from './spend-helpers.js'

t.setTimeout(300_000)

/** The `session.id` marker of each metrics body a collector got (a body's records all carry its one marker). */
const markers = (got: readonly Received[]): string[] => got.filter((r) => r.path === '/v1/metrics')
  .flatMap((r) => [...new Set(decode('metrics', String(r.headers['content-type'] ?? ''), r.body).records.map((a) => String(a['session.id'])))])
  .sort()

/** Sum of the Prometheus samples named `name`. */
async function sample (name: string): Promise<number> {
  const text = (await req(prometheusUrl() ?? '')).text
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

t.test('telemetry destinations and pricing apply live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-reload-primary-'))
  const file = join(dir, 'gateway.yaml')
  const a = await startCollector()
  const b = await startCollector()
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const fake = await oneCentUpstream(t)
  let cfg: Record<string, any> = {} // eslint-disable-line @typescript-eslint/no-explicit-any
  const write = (edit: (c: Record<string, any>) => void): void => { edit(cfg); writeFileSync(file, stringify(cfg)) } // eslint-disable-line @typescript-eslint/no-explicit-any
  const { gw, url } = await startTestGateway(t, {
    workers: 2,
    configFile: file,
    config: (c) => {
      spendConfig(c, fake)
      c.telemetry = { forward_to: [{ url: a.url }], gateway_metrics: { prometheus: { port: 0 } } }
      cfg = c
    },
  })
  const alice = bearer('u-alice', ['eng'])
  const otlp = async (marker: string): Promise<number> => (await req(`${url}/v1/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
    body: otlpBody('metrics', 'json', { resource: { 'service.name': 'claude-code' }, record: { 'session.id': marker } }),
  })).status

  await t.test('forward_to A → B: later bodies reach B only; what A had queued still reaches A', async (t) => {
    let release!: () => void
    a.gate = new Promise<void>((resolve) => { release = resolve })
    const before = ['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5']
    for (const m of before) t.equal(await otlp(m), 200)
    // All six are stamped and waiting at A's destination (queued or in flight, A answers nothing yet).
    await until('six batches held for A', async () => await sample('weir_telemetry_queue') + await sample('weir_telemetry_inflight') === before.length)

    write((c) => { c.telemetry.forward_to = [{ url: b.url }] })
    const out = await gw.reload('test')
    t.equal(out.ok, true)
    t.same(out.restart, [], 'telemetry destinations no longer wait for a restart')
    t.ok(out.applied.some((c) => c.path.join('.') === 'telemetry.forward_to.0.url'))

    const after = ['b-0', 'b-1', 'b-2', 'b-3']
    for (const m of after) t.equal(await otlp(m), 200)
    await until('four bodies at B', () => markers(b.received).length >= after.length)
    release()
    a.gate = undefined
    await until('six bodies at A', () => markers(a.received).length >= before.length)
    // A second reload round trip makes sure nothing else was still on its way to either collector.
    t.equal((await gw.reload('test')).ok, true)
    t.same(markers(a.received), before, 'A got exactly what was queued for it before the reload')
    t.same(markers(b.received), after, 'B got exactly what was posted after the reload')
    t.equal(await sample('weir_telemetry_dropped'), 0, 'nothing was dropped')
  })

  await t.test('pricing: requests after the reload are metered with the new pricing', async (t) => {
    const today = bucketKey('daily', Date.now())
    const spent = async (): Promise<number> => {
      const [r] = await gw.sql`select micro_cents::text as m from spend where principal = 'u-alice' and period = ${today}`
      return Number(r?.m ?? 0)
    }
    t.equal((await post(url, alice)).status, 200)
    t.equal(await eventually(async () => { const v = await spent(); return v >= 1_000_000 ? v : 0 }, 'the first request metered'), 1_000_000, 'one cent at the boot pricing')

    write((c) => { c.pricing = { multiplier: 2 } })
    const out = await gw.reload('test')
    t.equal(out.ok, true)
    t.same(out.restart, [], 'pricing no longer waits for a restart')
    t.ok(out.applied.some((c) => c.path.join('.').startsWith('pricing')))

    t.equal((await post(url, alice)).status, 200)
    t.equal(await eventually(async () => { const v = await spent(); return v > 1_000_000 ? v : 0 }, 'the second request metered'), 3_000_000,
      'the request after the reload cost two cents (multiplier 2), the one before kept its one cent')
  })
})
