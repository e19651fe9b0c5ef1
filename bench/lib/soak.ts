/**
 * A soak: many streamed /v1/messages requests through a real `weir serve` process (fake Anthropic
 * upstream, real Postgres, dev IdP), with the gateway's resident memory sampled as it goes and the
 * ledger checked at the end. Shared by test/security/soak.test.ts (short) and bench/soak.ts (long).
 *
 * The fake upstream answers every request with a stream whose usage is drawn from a seeded
 * generator, and adds up what that usage costs on Haiku 4.5 list prices in integer micro-cents
 * (input 100, output 500, 5-minute cache write 125, cache read 10 µ¢ per token). The ledger is exact
 * when the daily spend rows in Postgres add up to that same number once metering has flushed.
 * Some developers carry a (large) daily cap, so the lease path is soaked as well as the uncapped one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { Pool } from 'undici'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { simpleStream, startFakeUpstream } from '../../test/helpers/fake-upstream.js'
import { TEST_SECRET, baseConfig } from '../../test/helpers/gateway.js'
import { prng } from '../../test/helpers/prng.js'
import { freePort, rssMiB, startProc } from './procs.js'

export interface SoakOptions {
  /** Stop after this many requests (whichever of requests/seconds comes first). */
  readonly requests: number
  readonly seconds: number
  readonly concurrency?: number
  readonly workers?: number
  /** Postgres server URL where a database may be created (the soak makes its own). */
  readonly databaseUrl: string
  readonly seed?: number
  /** Called with each RSS sample (MiB) and the requests done so far. */
  readonly onSample?: (rss: number, done: number) => void
}

export interface SoakResult {
  readonly sent: number
  readonly ok: number
  readonly failed: number
  readonly seconds: number
  /** [requests done, RSS MiB] pairs, about one a second. */
  readonly samples: ReadonlyArray<readonly [number, number]>
  readonly expectedMicroCents: bigint
  readonly meteredMicroCents: bigint
}

const PRINCIPALS = 8
const CAPPED = 3

const today = (): string => new Date().toISOString().slice(0, 10)

export async function runSoak (o: SoakOptions): Promise<SoakResult> {
  const rand = prng(o.seed ?? 14)
  let expected = 0n
  const fake = await startFakeUpstream(() => {
    const u = { input_tokens: 1 + Math.floor(rand() * 5000), output_tokens: 1 + Math.floor(rand() * 800), cache_creation_input_tokens: Math.floor(rand() * 300), cache_read_input_tokens: Math.floor(rand() * 2000) }
    expected += BigInt(u.input_tokens) * 100n + BigInt(u.output_tokens) * 500n + BigInt(u.cache_creation_input_tokens) * 125n + BigInt(u.cache_read_input_tokens) * 10n
    return { kind: 'sse', frames: simpleStream('soak', u) }
  })
  // the recorder keeps every request; a soak needs none of them
  const keep = fake.requests
  const trim = setInterval(() => { keep.length = 0 }, 1000)

  const dbName = `weir_soak_${Date.now().toString(36)}`
  const admin = postgres(o.databaseUrl, { max: 1, onnotice: () => {} })
  await admin`create database ${admin(dbName)}`
  const dbUrl = new URL(o.databaseUrl)
  dbUrl.pathname = `/${dbName}`
  const users = Array.from({ length: PRINCIPALS }, (_, i) => ({ sub: `u-soak-${i}`, email: `soak${i}@example.com`, name: `Soak ${i}`, groups: ['eng'] }))
  const idp = await startDevIdp({ users, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const dir = mkdtempSync(join(tmpdir(), 'weir-soak-'))
  const port = await freePort()
  const writeKey = 'w'.repeat(40)
  const cfg = baseConfig(idp.issuer, dbUrl.toString())
  cfg.listen.port = port
  cfg.upstreams = [{ provider: 'anthropic', name: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-test' } }]
  cfg.admin = { write_keys: [{ id: 'soak', key: writeKey }] }
  writeFileSync(join(dir, 'gateway.yaml'), stringify(cfg))
  const weir = await startProc('weir', process.execPath, [resolve(ROOT, 'dist', 'bin', 'weir.js'), 'serve', '--config', join(dir, 'gateway.yaml'), '--workers', String(o.workers ?? 2)], {
    env: { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS: '5000' },
    ready: /weir listening on/,
    log: join(dir, 'weir.log'),
  })
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: o.concurrency ?? 16 })
  const ring = keyRing([TEST_SECRET])
  const tokens = users.map((u) => mintToken(ring, u, { ttlHours: 2 }).token)
  try {
    for (let i = 0; i < CAPPED; i++) {
      const r = await pool.request({ path: '/v1/organizations/spend_limits', method: 'POST', headers: { 'x-api-key': writeKey, 'content-type': 'application/json' }, body: JSON.stringify({ scope: { type: 'user', user_id: users[i]?.sub }, amount: '1000000', period: 'daily', force: true }) })
      const text = await r.body.text()
      if (r.statusCode !== 200) throw new Error(`cap not set: ${r.statusCode} ${text}`)
    }
    const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'soak '.repeat(50) }] })
    const started = Date.now()
    const until = started + o.seconds * 1000
    let sent = 0; let ok = 0; let failed = 0
    const samples: Array<[number, number]> = []
    const sample = (): void => {
      const rss = rssMiB(weir.child.pid)
      samples.push([ok + failed, rss])
      o.onSample?.(rss, ok + failed)
    }
    const sampler = setInterval(sample, 1000)
    const lane = async (): Promise<void> => {
      while (sent < o.requests && Date.now() < until) {
        const i = sent++
        try {
          const r = await pool.request({ path: '/v1/messages', method: 'POST', headers: { authorization: `Bearer ${tokens[i % PRINCIPALS] ?? ''}`, 'content-type': 'application/json' }, body })
          const text = await r.body.text()
          if (r.statusCode === 200 && text.includes('message_stop')) ok++
          else failed++
        } catch { failed++ }
      }
    }
    await Promise.all(Array.from({ length: o.concurrency ?? 16 }, lane))
    clearInterval(sampler)
    sample()
    const seconds = (Date.now() - started) / 1000
    // metering flushes in batches: wait (bounded) for the ledger to stop moving
    const sql = postgres(dbUrl.toString(), { max: 1, onnotice: () => {} })
    let metered = -1n
    try {
      const deadline = Date.now() + 30_000
      for (;;) {
        const [row] = await sql<Array<{ m: string }>>`select coalesce(sum(micro_cents), 0)::text as m from spend where period = ${today()}`
        metered = BigInt(row?.m ?? '0')
        if (metered >= expected || Date.now() > deadline) break
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    } finally { await sql.end({ timeout: 1 }) }
    return { sent, ok, failed, seconds, samples, expectedMicroCents: expected, meteredMicroCents: metered }
  } finally {
    clearInterval(trim)
    await pool.close().catch(() => {})
    await weir.stop()
    await idp.close()
    await fake.close()
    rmSync(dir, { recursive: true, force: true })
    await admin`drop database if exists ${admin(dbName)} with (force)`.catch(() => {})
    await admin.end({ timeout: 1 })
  }
}

/**
 * Is resident memory flat? Compares the median of the samples just after warm-up (the first
 * `warmFraction` of requests) with the median of the last few; growth within `slackMiB` or
 * `slackRatio` of the warm level (whichever is larger) counts as flat.
 */
export function rssVerdict (samples: ReadonlyArray<readonly [number, number]>, total: number, o: { warmFraction?: number, slackMiB?: number, slackRatio?: number } = {}): { warm: number, end: number, flat: boolean, bound: number } {
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
  const valid = samples.filter(([, r]) => Number.isFinite(r))
  const warmAt = total * (o.warmFraction ?? 0.25)
  const after = valid.filter(([d]) => d >= warmAt)
  const warm = median(after.slice(0, Math.max(1, Math.min(3, Math.floor(after.length / 3)))).map(([, r]) => r))
  const end = median(valid.slice(-3).map(([, r]) => r))
  const bound = warm + Math.max(o.slackMiB ?? 32, warm * (o.slackRatio ?? 0.25))
  return { warm, end, flat: end <= bound, bound }
}
