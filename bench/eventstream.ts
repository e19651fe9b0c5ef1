/**
 * The Bedrock transcoder's cost: `node dist/bench/eventstream.js [--quick] [--micro-only] [--duration S]`
 *
 *   1. micro — EventStreamDecoder on its own (in this process): AWS event-stream bytes in, Anthropic
 *      SSE out, for a short and a long reply fed whole, in 1460-byte TCP segments and in 16 KiB
 *      reads; MB/s of event-stream input and µs per event. Beside it, the usage tap that every
 *      streamed reply goes through on either path, as the yardstick.
 *   2. end to end — `weir serve --workers 1` with an Anthropic upstream and a Bedrock upstream (SigV4
 *      signing, body rewrite, event-stream decoding) in front of one fake that answers both with the
 *      same events (bench/fake-upstream.ts): time to first byte and whole-response latency
 *      over sequential requests, and req/s under load, for each path, alternated so machine noise
 *      hits both alike.
 *
 * Prints a Markdown report and writes bench/results/eventstream-latest.{json,md}. Figures belong in
 * bench/CLOUD.md as ratios (this machine is shared; absolute numbers move).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { startDevIdp } from '../lib/dev/idp.js'
import { EventStreamDecoder } from '../lib/proxy/upstreams/eventstream.js'
import { UsageTap } from '../lib/proxy/sse-usage.js'
import { setLogSink } from '../lib/log.js'
import { keyRing, mintToken } from '../lib/session/token.js'
import { ROOT, VERSION } from '../lib/version.js'
import { startPostgresServer } from '../test/helpers/pg.js'
import { streamBytes } from './eventstream-data.js'
import { autocannon, ttfb } from './lib/load.js'
import { freePort, startProc, type Proc } from './lib/procs.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'micro-only': { type: 'boolean' }, duration: { type: 'string' }, events: { type: 'string' } } })
const quick = values.quick === true
const duration = Number(values.duration ?? (quick ? 3 : 8))
const nEvents = Number(values.events ?? 20)

// ---- 1. micro ------------------------------------------------------------------------------------

interface Micro { reply: string, feed: string, eventsPerStream: number, inBytes: number, mbPerSec: number, usPerEvent: number, tapMbPerSec: number }

function chunks (b: Buffer, size: number): Buffer[] {
  if (size <= 0) return [b]
  const out: Buffer[] = []
  for (let i = 0; i < b.length; i += size) out.push(Buffer.from(b.subarray(i, i + size))) // fresh Buffers, as a socket delivers them
  return out
}

function timeIt (budgetMs: number, once: () => void): { n: number, ms: number } {
  for (let i = 0; i < 50; i++) once() // warm up
  let n = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < budgetMs) { for (let i = 0; i < 20; i++) once(); n += 20; t = performance.now() }
  return { n, ms: t - t0 }
}

function micro (): Micro[] {
  const out: Micro[] = []
  for (const [reply, n] of [['20 deltas', 20], ['2,000 deltas', 2000]] as Array<[string, number]>) {
    const s = streamBytes(n)
    for (const [feed, size] of [['whole', 0], ['1460 B reads', 1460], ['16 KiB reads', 16384]] as Array<[string, number]>) {
      const inParts = chunks(s.eventstream, size)
      const sseParts = chunks(s.sse, size)
      let sink = 0
      const dec = timeIt(quick ? 300 : 1500, () => {
        const d = new EventStreamDecoder('bench')
        for (const c of inParts) sink += d.push(c)?.length ?? 0
        d.end()
      })
      if (sink === 0) throw new Error('the decoder produced nothing')
      const tap = timeIt(quick ? 300 : 1500, () => {
        const t = new UsageTap()
        for (const c of sseParts) t.push(c)
      })
      const secs = dec.ms / 1000
      out.push({
        reply,
        feed,
        eventsPerStream: s.events,
        inBytes: s.eventstream.length,
        mbPerSec: (dec.n * s.eventstream.length) / secs / 1e6,
        usPerEvent: (dec.ms * 1000) / (dec.n * s.events),
        tapMbPerSec: (tap.n * s.sse.length) / (tap.ms / 1000) / 1e6,
      })
    }
  }
  return out
}

// ---- 2. end to end ---------------------------------------------------------------------------

interface PathResult { ttfbP50: number, ttfbP99: number, totalP50: number, reqPerSec: number[] }

async function endToEnd (): Promise<{ anthropic: PathResult, bedrock: PathResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-esbench-'))
  const pg = await startPostgresServer()
  const idp = await startDevIdp({ users: [{ sub: 'u-bench', email: 'bench@example.com', groups: ['eng'] }], clients: [{ client_id: 'bench', client_secret: 'bench-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const secret = 'bench-secret-0123456789abcdef0123456789abcdef'
  const token = mintToken(keyRing([secret]), { sub: 'u-bench', email: 'bench@example.com', groups: ['eng'] }, { ttlHours: 24 }).token
  const procs: Proc[] = []
  try {
    const upPort = await freePort()
    procs.push(await startProc('upstream', process.execPath, [resolve(ROOT, 'dist/bench/fake-upstream.js'), '--port', String(upPort), '--events', String(nEvents)], { ready: /listening/ }))
    const up = `http://127.0.0.1:${upPort}`
    const port = await freePort()
    const cfg = {
      listen: { host: '127.0.0.1', port },
      oidc: { issuer: idp.issuer, client_id: 'bench', client_secret: 'bench-secret' },
      session: { jwt_secret: secret },
      store: { postgres_url: pg.url, max_connections: 4 },
      upstreams: [
        { provider: 'anthropic', name: 'anthropic', base_url: up, auth: { api_key: 'sk-bench' }, models: ['claude-sonnet-4-5'] },
        { provider: 'bedrock', name: 'bedrock', region: 'us-east-1', base_url: up, auth: { aws_access_key_id: 'AKIDBENCH', aws_secret_access_key: 'bench-secret-key' }, models: ['claude-haiku-4-5'] },
      ],
    }
    const file = join(dir, 'weir.yaml')
    writeFileSync(file, stringify(cfg))
    procs.push(await startProc('weir', process.execPath, [resolve(ROOT, 'dist/bin/weir.js'), 'serve', '--config', file, '--workers', '1'], { env: { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', CLAUDE_GATEWAY_LOG_LEVEL: 'info' }, ready: /weir listening on/ }))
    const url = `http://127.0.0.1:${port}/v1/messages`
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
    const bodyFor = (model: string): string => JSON.stringify({ model, max_tokens: 4096, stream: true, messages: [{ role: 'user', content: 'Summarise the design of a streaming gateway in three sentences.' }] })
    const paths = { anthropic: bodyFor('claude-sonnet-4-5'), bedrock: bodyFor('claude-haiku-4-5') }
    const files: Record<string, string> = {}
    for (const [k, b] of Object.entries(paths)) { files[k] = join(dir, `${k}.json`); writeFileSync(files[k] as string, b) }
    const res: Record<string, PathResult> = {}
    const n = quick ? 100 : 400
    for (const k of ['anthropic', 'bedrock', 'anthropic', 'bedrock']) { // warm both, then measure
      const r = await ttfb(url, headers, paths[k as keyof typeof paths], n)
      res[k] = { ttfbP50: r.p50, ttfbP99: r.p99, totalP50: r.totalP50, reqPerSec: [] }
    }
    for (let round = 0; round < (quick ? 1 : 3); round++) {
      for (const k of ['anthropic', 'bedrock']) {
        const l = await autocannon({ url, connections: 32, durationS: duration, headers, bodyFile: files[k] as string })
        if (l.non2xx > 0 || l.errors > 0) throw new Error(`${k}: ${l.non2xx} non-2xx, ${l.errors} errors`)
        res[k]?.reqPerSec.push(l.reqPerSec)
        process.stderr.write(`  ${k} round ${round + 1}: ${l.reqPerSec.toFixed(0)} req/s p50 ${l.p50} ms\n`)
      }
    }
    return { anthropic: res.anthropic as PathResult, bedrock: res.bedrock as PathResult }
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {})
    await idp.close()
    await pg.destroy()
  }
}

// ---- report ----------------------------------------------------------------------------------

const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] ?? NaN }
const f = (x: number, d = 1): string => Number.isFinite(x) ? x.toFixed(d) : '—'

async function main (): Promise<void> {
  setLogSink(() => {})
  const m = micro()
  const e = values['micro-only'] === true ? null : await endToEnd()
  const lines = [
    `# Bedrock transcoder benchmark (${new Date().toISOString()})`,
    '',
    `Weir ${VERSION}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}${quick ? ', --quick' : ''}`,
    '',
    '## Decoder alone (AWS event stream → Anthropic SSE)',
    '',
    '| reply | feed | event-stream MB/s | µs / event | usage tap MB/s (both paths) |',
    '|---|---|---:|---:|---:|',
    ...m.map((r) => `| ${r.reply} (${r.eventsPerStream} events, ${r.inBytes} B) | ${r.feed} | ${f(r.mbPerSec)} | ${f(r.usPerEvent, 2)} | ${f(r.tapMbPerSec)} |`),
  ]
  if (e !== null) {
    const a = e.anthropic
    const b = e.bedrock
    lines.push('', '## Through `weir serve --workers 1` (same events from the same fake)', '',
      '| path | TTFB p50 ms | TTFB p99 ms | whole reply p50 ms | req/s (median, 32 conns) |',
      '|---|---:|---:|---:|---:|',
      `| anthropic (pass-through) | ${f(a.ttfbP50, 2)} | ${f(a.ttfbP99, 2)} | ${f(a.totalP50, 2)} | ${f(median(a.reqPerSec), 0)} |`,
      `| bedrock (SigV4 + transcode) | ${f(b.ttfbP50, 2)} | ${f(b.ttfbP99, 2)} | ${f(b.totalP50, 2)} | ${f(median(b.reqPerSec), 0)} |`,
      '',
      `Bedrock / Anthropic: TTFB p50 ×${f(b.ttfbP50 / a.ttfbP50, 2)} (+${f(b.ttfbP50 - a.ttfbP50, 2)} ms), whole reply p50 ×${f(b.totalP50 / a.totalP50, 2)} (+${f(b.totalP50 - a.totalP50, 2)} ms), throughput ×${f(median(b.reqPerSec) / median(a.reqPerSec), 2)}.`)
  }
  const md = lines.join('\n') + '\n'
  process.stdout.write(md)
  const outDir = resolve(ROOT, 'bench', 'results')
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'eventstream-latest.md'), md)
  writeFileSync(join(outDir, 'eventstream-latest.json'), JSON.stringify({ micro: m, endToEnd: e, quick, duration, events: nEvents, node: process.version, cpus: cpus().length }, null, 2))
}

main().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
