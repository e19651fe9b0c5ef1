/**
 * Start a real gateway for a test: a fresh database on the test run's Postgres, the built-in OIDC
 * provider (oidc-provider) as the IdP, worker threads on a free port. The config goes through the
 * same YAML loader as production: tests describe it as an object, it is written as YAML and parsed.
 */
import { stringify } from 'yaml'
import type { Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { loadConfig, parseConfig, type LoadedConfig } from '../../lib/config/load.js'
import { startDevIdp, type DevIdp, type DevUser } from '../../lib/dev/idp.js'
import { startGateway, type Gateway } from '../../workers/primary.js'
import { freshDatabase } from './pg.js'

process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef'
export const DEFAULT_USERS: DevUser[] = [
  { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'] },
  { sub: 'u-bob', email: 'bob@corp.example', name: 'Bob', groups: ['contractors'] },
]

export interface TestGateway {
  gw: Gateway
  url: string
  idp: DevIdp
  loaded: LoadedConfig
  dbUrl: string
}

export interface TestGatewayOptions {
  /** Change the config object before it is written as YAML. */
  config?: (c: Record<string, any>) => void // eslint-disable-line @typescript-eslint/no-explicit-any
  workers?: number
  users?: DevUser[]
  /** Reuse an IdP (e.g. two gateways sharing one). */
  idp?: DevIdp
  /** Reuse a database URL (e.g. two gateways sharing one database). */
  dbUrl?: string
  drainTimeoutMs?: number
  /** Write the config to this file and load it from there, so `gw.reload()` re-reads that file. */
  configFile?: string
}

/** The config object every test starts from. */
export function baseConfig (issuer: string, dbUrl: string): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    listen: { host: '127.0.0.1', port: 0 },
    oidc: { issuer, client_id: 'weir-test', client_secret: 'weir-test-secret' },
    session: { jwt_secret: TEST_SECRET },
    store: { postgres_url: dbUrl, max_connections: 4 },
    upstreams: [{ provider: 'mock' }],
  }
}

export async function startTestGateway (t: Test, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const idp = opts.idp ?? await startDevIdp({
    users: opts.users ?? DEFAULT_USERS,
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }],
  })
  if (opts.idp === undefined) t.teardown(() => idp.close())
  const dbUrl = opts.dbUrl ?? (await freshDatabase(t)).url
  const cfg = baseConfig(idp.issuer, dbUrl)
  opts.config?.(cfg)
  if (opts.configFile !== undefined) writeFileSync(opts.configFile, stringify(cfg))
  const loaded = opts.configFile !== undefined ? loadConfig(opts.configFile, process.env) : parseConfig(stringify(cfg), 'gateway.yaml', process.env)
  const gw = await startGateway(loaded, { workers: opts.workers ?? 1, drainTimeoutMs: opts.drainTimeoutMs ?? 2000 })
  t.teardown(() => gw.stop())
  return { gw, url: gw.url, idp, loaded, dbUrl }
}
