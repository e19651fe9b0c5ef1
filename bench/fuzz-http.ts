/**
 * The long HTTP fuzz run (the short one runs in `npm test`: test/security/http-fuzz.test.ts).
 *
 *   node dist/bench/fuzz-http.js [--cases N] [--seed S] [--from I] [--concurrency C] [--workers W]
 *                                [--case I] [--json FILE]
 *
 * Starts a gateway exactly as the test does (dev IdP, Postgres from DATABASE_URL or a throwaway
 * one, admin API configured, a 1 s body grace) and sends N seeded malformed and smuggling-shaped
 * requests (test/security/fuzz-http.ts) with the same checks as the test. Prints progress every
 * 10 s, then a summary and one line per failing case (`seed S case I`, reproducible with
 * `--seed S --case I`, which sends that case alone and prints the bytes and the raw answer).
 * Exits non-zero when any case broke a guarantee or the gateway stopped serving.
 * Defaults: 100,000 cases, seed 14, 16 connections, 1 worker.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { keyRing, mintToken } from '../lib/session/token.js'
import { startTestGateway, TEST_SECRET } from '../test/helpers/gateway.js'
import { startPostgresServer } from '../test/helpers/pg.js'
import { describeFailure, makeCase, runFuzz, sendCase, type FuzzContext } from '../test/security/fuzz-http.js'
import { uwsBuild, wire } from '../test/security/wire.js'

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '14' },
    from: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1' },
    case: { type: 'string' },
    json: { type: 'string' },
  },
})

const ADMIN_KEY = 'wk-0123456789abcdef0123456789abcdef'

async function main (): Promise<number> {
  const server = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? await startPostgresServer() : null
  if (server !== null) process.env.DATABASE_URL = server.url
  const teardowns: Array<() => unknown> = []
  try {
    process.env.WEIR_BODY_GRACE_MS ??= '1000'
    const { gw } = await startTestGateway({ teardown: (fn: () => unknown) => { teardowns.push(fn) } } as never, {
      workers: Number(values.workers),
      config: (c) => { c.admin = { write_keys: [{ id: 'w', key: ADMIN_KEY }] } },
    })
    const build = uwsBuild()
    const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 24 }).token
    const ctx: FuzzContext = { bearer, adminKey: ADMIN_KEY, legacyParser: build.legacyParser }
    const seed = Number(values.seed)
    console.log(`seed ${seed}, uWebSockets.js ${build.label} (legacy parser: ${String(build.legacyParser)}), gateway on port ${gw.port}`)

    if (values.case !== undefined) {
      const c = makeCase(seed, Number(values.case), ctx)
      console.log(`case ${c.index} [${c.tags.join(' ')}] closeOk=${c.closeOk.join('+') || 'none'} conflicting=${String(c.conflicting)}`)
      console.log('sent:', JSON.stringify(c.bytes.toString('latin1').slice(0, 2000)))
      const o = await sendCase(gw.port, c, 15_000, 300)
      console.log(`end ${o.end} after ${o.ms} ms, statuses ${o.statuses.join(',') || 'none'}`)
      for (const r of o.responses) console.log(`  ${r.status} ${JSON.stringify(r.headers)} ${r.body.slice(0, 300)}`)
      console.log(o.problems.length === 0 ? 'ok' : `PROBLEMS: ${o.problems.join('; ')}`)
      return o.problems.length === 0 ? 0 : 1
    }

    const total = Number(values.cases)
    let done = 0
    let last = Date.now()
    const report = await runFuzz({
      port: gw.port,
      seed,
      cases: total,
      from: Number(values.from),
      ctx,
      concurrency: Number(values.concurrency),
      onCase: () => {
        done++
        if (Date.now() - last >= 10_000) { last = Date.now(); console.log(`${new Date().toISOString()}  ${done}/${total} cases`) }
      },
    })
    const ok = await wire(gw.port, `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\n\r\n`, { timeoutMs: 10_000, expect: 1 })
    const serving = ok.responses[0]?.status === 200
    console.log(`${report.cases} cases in ${(report.ms / 1000).toFixed(1)} s (${(report.cases * 1000 / report.ms).toFixed(0)}/s), slowest connection ${report.slowestMs} ms`)
    console.log(`first answers: ${Object.entries(report.outcomes).sort().map(([k, v]) => `${k}:${v}`).join(' ')}`)
    console.log(`silent closes accepted: ${JSON.stringify(report.acceptedCloses)}`)
    console.log(`still serving afterwards: ${serving ? 'yes' : 'NO'}`)
    console.log(`failures: ${report.failures.length}`)
    for (const f of report.failures.slice(0, 200)) console.log(describeFailure(seed, f))
    if (values.json !== undefined) {
      writeFileSync(values.json, JSON.stringify({
        ...report,
        failures: report.failures.map((f) => ({ index: f.c.index, tags: f.c.tags, problems: f.problems, end: f.end, ms: f.ms, statuses: f.statuses, bytes: f.c.bytes.toString('latin1').slice(0, 4000) })),
      }, null, 1))
    }
    return report.failures.length === 0 && serving ? 0 : 1
  } finally {
    for (const fn of teardowns.reverse()) await fn()
    await server?.destroy()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => { console.error(err); process.exitCode = 1 })
