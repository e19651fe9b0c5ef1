/**
 * The start-up the spend-safety tests share (overrun, upstream-kill, sigterm): a gateway with spend
 * control in front of an upstream the test controls, one developer with a daily cap, and a read of
 * that developer's ledger row.
 */
import type { Test } from 'tap'
import postgres from 'postgres'
import { startDevIdp } from '../../lib/dev/idp.js'
import { bucketKey } from '../../lib/metering/periods.js'
import { DEFAULT_USERS, baseConfig } from '../helpers/gateway.js'
import { freshDatabase } from '../helpers/pg.js'
import { bearer, setCap, spendConfig, spendGateway } from '../integration/spend-helpers.js'

type SpendUpstream = Parameters<typeof spendConfig>[1]

/** Any upstream with a URL (a fake upstream, or a bare test server). */
const asUpstream = (u: { url: string }): SpendUpstream => u as SpendUpstream

/** Micro-cents in `sub`'s daily ledger row now (0 when there is none). */
export async function spentMicro (dbUrl: string, sub: string): Promise<number> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  try {
    const [r] = await sql`select micro_cents::text as m from spend where principal = ${sub} and period = ${bucketKey('daily', Date.now())}`
    return Number(r?.m ?? 0)
  } finally { await sql.end({ timeout: 1 }) }
}

export interface CappedGateway {
  url: string
  dbUrl: string
  /** A bearer for `sub`. */
  token: string
}

/** A real gateway in front of `upstream` with spend control on, and `sub` capped at `cents` a day (in effect on return). */
export async function cappedGateway (t: Test, upstream: { url: string }, sub: string, cents: string): Promise<CappedGateway> {
  const { url, dbUrl } = await spendGateway(t, asUpstream(upstream))
  const token = bearer(sub)
  await setCap(url, token, { scope: { type: 'user', user_id: sub }, amount: cents, period: 'daily' })
  return { url, dbUrl, token }
}

/**
 * For a gateway the test runs as its own process: a started IdP, a migrated database and the config
 * object (spend control on, `upstream` as the only upstream), torn down with `t`.
 */
export async function spendServeConfig (t: Test, upstream: { url: string }): Promise<{ cfg: Record<string, any>, dbUrl: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const db = await freshDatabase(t, { migrate: true })
  const idp = await startDevIdp({ users: DEFAULT_USERS, clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  t.teardown(() => idp.close())
  return { cfg: spendConfig(baseConfig(idp.issuer, db.url), asUpstream(upstream)), dbUrl: db.url }
}
