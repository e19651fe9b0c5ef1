/**
 * A short soak: a few thousand streamed requests (bounded to about 30 s) through a real
 * `weir serve` with a fake upstream and the test run's Postgres. The gateway's resident memory
 * must be flat after warm-up (a generous bound: this catches a leak of tens of KiB per request,
 * not allocator noise), every request must be served, and the ledger must be exact: the daily
 * spend rows add up, to the micro-cent, to what the usage the upstream sent costs.
 * The longer version is `node dist/bench/soak.js --requests N --seconds S` (bench/README.md).
 */
import t from 'tap'
import { rssVerdict, runSoak } from '../../bench/lib/soak.js'
import { databaseUrl } from '../helpers/pg.js'

// ~30 s of load plus start-up and the ledger flush; on a loaded machine more than the default 180 s
t.setTimeout(360_000)

t.test('soak: RSS flat and the ledger exact over a few thousand streams', async (t) => {
  const r = await runSoak({ requests: 3000, seconds: 30, concurrency: 16, workers: 2, databaseUrl: databaseUrl() })
  t.comment(`${r.ok} served in ${r.seconds.toFixed(1)} s; RSS samples (requests, MiB): ${r.samples.map(([d, m]) => `${d}:${m.toFixed(0)}`).join(' ')}`)
  t.equal(r.failed, 0, 'every request was served')
  t.ok(r.ok >= 500, `enough requests to mean something (${r.ok})`)
  t.ok(r.samples.length >= 4, 'RSS sampled several times')
  const v = rssVerdict(r.samples, r.ok)
  t.ok(v.flat, `RSS flat after warm-up: ${v.warm.toFixed(1)} MiB → ${v.end.toFixed(1)} MiB (bound ${v.bound.toFixed(1)})`)
  t.equal(r.meteredMicroCents.toString(), r.expectedMicroCents.toString(), 'the ledger is exact to the micro-cent')
})
