/**
 * Upstream pools and the prompt cache: `node dist/bench/pools.js [--sessions 200] [--turns 30] [--concurrency 60]`.
 *
 * Three fake Anthropic upstreams model a prompt cache and a rate limit: each remembers, per
 * session, how far into the conversation it has cached; a turn whose earlier prefix it holds is a
 * cache read for that prefix and a cache write for the rest, and a turn it has not seen before is a
 * cache write in full. Each answers at most `--limit` requests at once (default 60% of the
 * concurrency: any two can carry the load) and a 429 with `retry-after: 1` beyond that. Simulated Claude Code sessions (a
 * 12,000-token system prompt and tools, then 600 tokens a turn) run `--turns` turns each, with
 * `--concurrency` sessions at a time, through a real gateway (one worker, Postgres, the dev IdP):
 *   single      one upstream with no rate limit — the cache-hit ceiling
 *   ordered     the three upstreams in ordered failover (the reference's behaviour, no pool)
 *   spray       one pool, but every request carries its own key: spreading with no affinity (what
 *               round-robin does to the cache)
 *   pool        one pool, requests keyed by `x-claude-code-session-id` (rendezvous affinity)
 * and the last three again with upstream `b` answering only 429 from halfway through the run.
 * Reported per scenario: client-visible errors, the cache-hit ratio (cache-read tokens over all
 * input tokens), the input cost against Sonnet's list prices (input $3/Mtok, cache write 1.25×,
 * cache read 0.1×), and the sessions that were served by more than one upstream.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { Agent, request } from 'undici'
import { stringify } from 'yaml'
import { parseConfig } from '../lib/config/load.js'
import { startDevIdp } from '../lib/dev/idp.js'
import { setLogLevel } from '../lib/log.js'
import { ROOT } from '../lib/version.js'
import { keyRing, mintToken } from '../lib/session/token.js'
import { startGateway } from '../workers/primary.js'
import { type FakeUpstream, simpleStream, startFakeUpstream } from '../test/helpers/fake-upstream.js'
import { DEFAULT_USERS, TEST_SECRET, baseConfig } from '../test/helpers/gateway.js'
import { startPostgresServer } from '../test/helpers/pg.js'

const { values } = parseArgs({ options: { sessions: { type: 'string' }, turns: { type: 'string' }, concurrency: { type: 'string' }, limit: { type: 'string' } } })
const SESSIONS = Number(values.sessions ?? 200)
const TURNS = Number(values.turns ?? 30)
const CONCURRENCY = Number(values.concurrency ?? 60)
const LIMIT = Number(values.limit ?? Math.ceil(CONCURRENCY * 0.6))
const SYSTEM_TOKENS = 12_000
const TURN_TOKENS = 600
const PRICE = { input: 3, write: 3.75, read: 0.3 } // US $ per million tokens
setLogLevel('error')
process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

const promptTokens = (turn: number): number => SYSTEM_TOKENS + TURN_TOKENS * (turn + 1)

interface Totals { read: number, write: number, errors: number, requests: number, sessions: Map<string, Set<string>> }

/** A fake upstream with a per-session prompt cache and a concurrency limit; `down` makes it answer 429 only. */
class CacheUpstream {
  readonly cache = new Map<string, number>()
  inFlight = 0
  down = false
  constructor (readonly name: string, readonly fake: FakeUpstream, limit: number, totals: () => Totals) {
    fake.script = (r) => {
      const msg = (JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
      const [session = '', turnS = '0'] = msg.split(' ')
      if (this.down || this.inFlight >= limit) {
        return { kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'rate limited' } }, headers: { 'retry-after': '1' } }
      }
      this.inFlight++
      void r.closed.then(() => { this.inFlight-- })
      const turn = Number(turnS)
      const total = promptTokens(turn)
      const seen = this.cache.get(session)
      const read = seen === undefined ? 0 : promptTokens(seen)
      this.cache.set(session, turn)
      const t = totals()
      t.read += read
      t.write += total - read
      let set = t.sessions.get(session)
      if (set === undefined) { set = new Set(); t.sessions.set(session, set) }
      set.add(this.name)
      return { kind: 'sse', delayMs: 2, frames: simpleStream('ok', { input_tokens: 0, output_tokens: 200, cache_creation_input_tokens: total - read, cache_read_input_tokens: read }) }
    }
  }
}

async function main (): Promise<void> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  const base = server?.url ?? process.env.DATABASE_URL as string
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  const idp = await startDevIdp({ users: DEFAULT_USERS, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'bench-dev', email: 'bench@example.com', groups: ['eng'] }, { ttlHours: 2 }).token
  let totals: Totals = { read: 0, write: 0, errors: 0, requests: 0, sessions: new Map() }
  const names = ['a', 'b', 'c'] as const
  const ups = await Promise.all(names.map(async (n) => new CacheUpstream(n, await startFakeUpstream(), LIMIT, () => totals)))
  const unlimited = new CacheUpstream('solo', await startFakeUpstream(), Number.MAX_SAFE_INTEGER, () => totals)
  const gateway = async (label: string, edit: (c: Record<string, any>) => void): Promise<Awaited<ReturnType<typeof startGateway>>> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const db = `weir_pools_bench_${label}`
    await admin.unsafe(`drop database if exists ${db} with (force)`)
    await admin.unsafe(`create database ${db}`)
    const u = new URL(base)
    u.pathname = `/${db}`
    const cfg = baseConfig(idp.issuer, u.toString())
    edit(cfg)
    return await startGateway(parseConfig(stringify(cfg), 'gateway.yaml', process.env), { workers: 1, drainTimeoutMs: 1000 })
  }
  const three = names.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (ups[i] as CacheUpstream).fake.url, auth: { api_key: `sk-${n}` } }))
  const gws = {
    single: await gateway('single', (c) => { c.upstreams = [{ provider: 'anthropic', name: 'solo', base_url: unlimited.fake.url, auth: { api_key: 'sk-solo' } }] }),
    ordered: await gateway('ordered', (c) => { c.upstreams = three }),
    pooled: await gateway('pooled', (c) => { c.upstreams = three; c.upstream_pools = [{ name: 'fleet', members: names.map((n) => ({ upstream: n })), cooldown_seconds: 1 }] }),
  }
  const agent = new Agent({ connections: CONCURRENCY * 2 })

  async function scenario (label: string, url: string, keyed: boolean, failHalfway: boolean): Promise<Record<string, string | number>> {
    totals = { read: 0, write: 0, errors: 0, requests: 0, sessions: new Map() }
    for (const u of [...ups, unlimited]) { u.cache.clear(); u.down = false }
    const total = SESSIONS * TURNS
    let nextSession = 0
    const run = async (): Promise<void> => {
      for (;;) {
        const s = nextSession++
        if (s >= SESSIONS) return
        const id = `${label.replace(/\W+/g, '_')}-${s.toString().padStart(4, '0')}-session`
        for (let turn = 0; turn < TURNS; turn++) {
          if (failHalfway && totals.requests >= total / 2) (ups[1] as CacheUpstream).down = true
          const key = keyed ? id : `${id}-${turn}-${Math.random()}`
          const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 256, stream: true, messages: [{ role: 'user', content: `${id} ${turn}` }] })
          const r = await request(`${url}/v1/messages`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-claude-code-session-id': key }, body })
          const text = await r.body.text()
          totals.requests++
          if (r.statusCode !== 200 || text.includes('event: error')) totals.errors++
        }
      }
    }
    const t0 = Date.now()
    await Promise.all(Array.from({ length: CONCURRENCY }, run))
    const input = totals.read + totals.write
    const cost = (totals.read * PRICE.read + totals.write * PRICE.write) / 1e6
    const moved = [...totals.sessions.values()].filter((s) => s.size > 1).length
    return {
      scenario: label,
      errors: totals.errors,
      'cache hit %': Number((100 * totals.read / input).toFixed(2)),
      'input cost $': Number(cost.toFixed(2)),
      'sessions on >1 upstream': `${moved}/${SESSIONS}`,
      's': Math.round((Date.now() - t0) / 100) / 10,
    }
  }

  const rows: Array<Record<string, string | number>> = []
  rows.push(await scenario('single', gws.single.url, true, false))
  for (const fail of [false, true]) {
    const tag = fail ? ' + b 429s from halfway' : ''
    rows.push(await scenario(`ordered${tag}`, gws.ordered.url, true, fail))
    rows.push(await scenario(`spray${tag}`, gws.pooled.url, false, fail))
    rows.push(await scenario(`pool${tag}`, gws.pooled.url, true, fail))
  }
  const cols = Object.keys(rows[0] as object)
  let md = `${SESSIONS} sessions × ${TURNS} turns, ${CONCURRENCY} at a time; per-upstream limit ${LIMIT} in flight\n\n`
  md += `| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|\n`
  for (const r of rows) md += `| ${cols.map((c) => String(r[c])).join(' | ')} |\n`
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'results', 'pools-latest.md'), md)
  process.stdout.write(`\n${md}`)
  for (const gw of Object.values(gws)) await gw.stop()
  await agent.close()
  for (const u of [...ups, unlimited]) await u.fake.close()
  await idp.close()
  await admin.end()
  await server?.destroy()
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
