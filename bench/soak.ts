/**
 * The long soak (the short one runs in `npm test`: test/security/soak.test.ts).
 *
 *   node dist/bench/soak.js [--requests N] [--seconds S] [--concurrency C] [--workers W] [--seed X]
 *
 * Streams requests through a real `weir serve` (fake Anthropic upstream, dev IdP, Postgres from
 * DATABASE_URL or a throwaway one) until N requests or S seconds, sampling the gateway's RSS about
 * once a second, then checks that RSS stayed flat after warm-up and that the ledger in Postgres is
 * exact to the micro-cent. Prints a summary and exits non-zero when either check fails.
 * Defaults: 200,000 requests or 600 s, 32 connections, 2 workers.
 */
import { parseArgs } from 'node:util'
import { startPostgresServer } from '../test/helpers/pg.js'
import { rssVerdict, runSoak } from './lib/soak.js'

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '200000' },
    seconds: { type: 'string', default: '600' },
    concurrency: { type: 'string', default: '32' },
    workers: { type: 'string', default: '2' },
    seed: { type: 'string', default: '14' },
  },
})

async function main (): Promise<number> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  try {
    let last = 0
    const r = await runSoak({
      requests: Number(values.requests),
      seconds: Number(values.seconds),
      concurrency: Number(values.concurrency),
      workers: Number(values.workers),
      seed: Number(values.seed),
      databaseUrl: server?.url ?? process.env.DATABASE_URL ?? '',
      onSample: (rss, done) => {
        const now = Date.now()
        if (now - last >= 10_000) { last = now; console.log(`${new Date().toISOString()}  ${done} requests  RSS ${rss.toFixed(1)} MiB`) }
      },
    })
    const v = rssVerdict(r.samples, r.ok)
    const ledgerOk = r.meteredMicroCents === r.expectedMicroCents
    console.log(`requests: ${r.ok} served, ${r.failed} failed, in ${r.seconds.toFixed(1)} s (${(r.ok / r.seconds).toFixed(0)}/s)`)
    console.log(`RSS: ${v.warm.toFixed(1)} MiB after warm-up, ${v.end.toFixed(1)} MiB at the end, bound ${v.bound.toFixed(1)}: ${v.flat ? 'flat' : 'GREW'}`)
    console.log(`ledger: ${r.meteredMicroCents} µ¢ metered, ${r.expectedMicroCents} µ¢ sent by the upstream: ${ledgerOk ? 'exact' : 'MISMATCH'}`)
    return r.failed === 0 && v.flat && ledgerOk ? 0 : 1
  } finally {
    await server?.destroy()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => { console.error(err); process.exitCode = 1 })
