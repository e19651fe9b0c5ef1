/**
 * Spend control end to end: `node dist/bench/spend-http.js [--duration 5] [--repeat 3]`.
 *
 * The same streamed request through a real gateway (one worker thread, the real primary, Postgres,
 * a fake upstream on loopback) under autocannon, three ways:
 *   no admin     no `admin:` block — no caps, no metering
 *   uncapped     `admin:` configured; the developer has no cap (metered only)
 *   capped       the developer has daily, weekly and monthly caps (leases, usage headers, metered)
 * Reported as requests per second, median of the runs, and the ratio to `no admin`. Everything
 * shares this machine's cores, so compare ratios, not absolute figures.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { stringify } from 'yaml'
import { parseConfig } from '../lib/config/load.js'
import { startDevIdp } from '../lib/dev/idp.js'
import { setLogLevel } from '../lib/log.js'
import { keyRing, mintToken } from '../lib/session/token.js'
import { startGateway } from '../workers/primary.js'
import { simpleStream, startFakeUpstream } from '../test/helpers/fake-upstream.js'
import { DEFAULT_USERS, TEST_SECRET, baseConfig } from '../test/helpers/gateway.js'
import { startPostgresServer } from '../test/helpers/pg.js'
import { autocannon } from './lib/load.js'

const { values } = parseArgs({ options: { duration: { type: 'string' }, repeat: { type: 'string' } } })
const DURATION = Number(values.duration ?? 5)
const REPEAT = Number(values.repeat ?? 3)
setLogLevel('error')
process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function main (): Promise<void> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  const base = server?.url ?? process.env.DATABASE_URL as string
  const idp = await startDevIdp({ users: DEFAULT_USERS, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const usage = { input_tokens: 1000, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('hello', usage) }))
  const dir = mkdtempSync(join(tmpdir(), 'weir-spend-bench-'))
  const bodyFile = join(dir, 'body.json')
  writeFileSync(bodyFile, JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'hello there' }] }))
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'bench-dev', email: 'bench@example.com', groups: ['eng'] }, { ttlHours: 2 }).token
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  const rows: Array<{ label: string, rps: number }> = []

  // All three gateways run at once and are measured in turns (A, B, C, A, B, C, …), so load
  // from anything else on the machine drifts over all three alike.
  const variants = ['no admin', 'uncapped', 'capped'] as const
  const gws: Array<Awaited<ReturnType<typeof startGateway>>> = []
  for (const variant of variants) {
    const db = `weir_spend_bench_${variant.replace(' ', '_')}`
    await admin.unsafe(`drop database if exists ${db} with (force)`)
    await admin.unsafe(`create database ${db}`)
    const u = new URL(base)
    u.pathname = `/${db}`
    const cfg = baseConfig(idp.issuer, u.toString())
    cfg.upstreams = [{ provider: 'anthropic', name: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-bench' } }]
    if (variant !== 'no admin') cfg.admin = { write_keys: [{ id: 'w', key: 'w'.repeat(40) }] }
    const gw = await startGateway(parseConfig(stringify(cfg), 'gateway.yaml', process.env), { workers: 1, drainTimeoutMs: 1000 })
    gws.push(gw)
    if (variant === 'capped') {
      for (const [id, period] of [['spl_bd', 'daily'], ['spl_bw', 'weekly'], ['spl_bm', 'monthly']]) {
        await gw.sql`insert into spend_limits (id, scope_type, scope_id, amount, period) values (${id as string}, 'user', 'bench-dev', 100000000000, ${period as string})`
      }
      for (let i = 0; i < 200; i++) {
        const r = await fetch(`${gw.url}/api/oauth/usage`, { headers: { authorization: `Bearer ${token}` } })
        if (((await r.json()) as { limits: unknown[] }).limits.length === 3) break
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    }
  }
  const spec = (gw: (typeof gws)[number], durationS: number): Parameters<typeof autocannon>[0] =>
    ({ url: `${gw.url}/v1/messages`, connections: 20, durationS, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, bodyFile })
  for (const gw of gws) await autocannon(spec(gw, 1))
  const runs: number[][] = variants.map(() => [])
  for (let i = 0; i < REPEAT; i++) {
    for (const [j, gw] of gws.entries()) {
      const r = await autocannon(spec(gw, DURATION))
      if (r.errors + r.non2xx > 0) throw new Error(`${variants[j] as string}: ${r.errors} errors, ${r.non2xx} non-2xx`)
      runs[j]?.push(r.reqPerSec)
    }
  }
  for (const [j, v] of variants.entries()) rows.push({ label: v, rps: median(runs[j] as number[]) })
  for (const gw of gws) await gw.stop()
  const floor = rows[0]?.rps ?? 1
  process.stdout.write([
    `streamed /v1/messages through one worker, autocannon 20 connections, median of ${REPEAT} × ${DURATION} s`,
    '',
    '| configuration | req/s | × no admin |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.label} | ${r.rps.toFixed(0)} | ${(r.rps / floor).toFixed(2)} |`),
    '',
  ].join('\n'))
  await admin.end({ timeout: 1 })
  await fake.close()
  await idp.close()
  await server?.destroy()
}

main().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
