/**
 * Everything a benchmark run needs besides the gateways: PostgreSQL (DATABASE_URL or a throwaway
 * server), the built-in identity provider (boot needs OIDC discovery), a signed bearer, request
 * body files, the fake upstream process, and the gateway configs. Weir's config switches on every
 * feature the build implements (bearer auth, routing, a managed policy with an allow-list, spend
 * metering with an admin block) so the figures include their cost.
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { stringify } from 'yaml'
import { NOT_SUPPORTED_YET } from '../../lib/config/schema.js'
import { startDevIdp, type DevIdp } from '../../lib/dev/idp.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { startPostgresServer, type PgServer } from '../../test/helpers/pg.js'
import { HAVE_TASKSET, freePort, startProc, type Proc } from './procs.js'

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'
const CLAUDE = resolve(ROOT, 'node_modules', '@anthropic-ai', 'claude-code-linux-x64', 'claude')

export interface World {
  readonly upstreamUrl: string
  weirUrl: string
  readonly headers: Record<string, string>
  readonly shortBody: string
  readonly shortBodyText: string
  readonly bigBody: string
  readonly cpuModel: string
  readonly taskset: boolean
  readonly reference: boolean
  /** Scratch directory (config files, gateway logs, profiles). */
  readonly dir: string
  /** (Re)start the fake upstream; `streamBytes` > 0 makes every reply a firehose of that many bytes. */
  restartUpstream (events: number, delay: number, cores: string, streamBytes?: number): Promise<void>
  /**
   * `nodeArgs` go to node before the script (e.g. `--cpu-prof`; Node 20 refuses it in NODE_OPTIONS).
   * `root` runs another built checkout of Weir instead of this one (the `--baseline` comparison).
   */
  startWeir (workers: number, cores: string, nodeArgs?: string[], root?: string): Promise<{ proc: Proc, url: string }>
  startReference (cores: string): Promise<{ proc: Proc, url: string }>
  close (): Promise<void>
}

const supported = (key: string): boolean => !NOT_SUPPORTED_YET.includes(key)

export async function setupWorld (dir: string, o: { reference: boolean }): Promise<World> {
  let pg: PgServer | null = null
  let baseUrl = process.env.DATABASE_URL
  // The helper picks a scratch parent the server user can reach (the bench dir is private to us).
  if (baseUrl === undefined) { pg = await startPostgresServer(); baseUrl = pg.url }
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} })
  // One database per gateway started: a baseline started beside a running Weir must not drop its database.
  const made: string[] = []
  let nth = 0
  const dbUrl = async (name: string): Promise<string> => {
    made.push(name)
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.unsafe(`create database ${name}`)
    const u = new URL(baseUrl as string)
    u.pathname = `/${name}`
    return u.toString()
  }
  const upstreamPort = await freePort()
  const idp: DevIdp = await startDevIdp({ users: [{ sub: 'u-bench', email: 'bench@example.com', groups: ['eng'] }], clients: [{ client_id: 'bench', client_secret: 'bench-secret', redirect_uris: ['http://127.0.0.1/oauth/callback'] }] })
  const token = mintToken(keyRing([SECRET]), { sub: 'u-bench', email: 'bench@example.com', name: 'bench', groups: ['eng'] }, { ttlHours: 24 }).token
  const shortBodyText = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 4096, stream: true, messages: [{ role: 'user', content: 'Summarise the design of a streaming gateway in three sentences.' }] })
  const shortBody = join(dir, 'short.json')
  writeFileSync(shortBody, shortBodyText)
  const bigBody = join(dir, 'big.json')
  writeFileSync(bigBody, JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024 - 200) }] }))
  let upstream: Proc | null = null
  const env = { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', CLAUDE_GATEWAY_LOG_LEVEL: 'info' }

  const world: World = {
    upstreamUrl: `http://127.0.0.1:${upstreamPort}`,
    weirUrl: '',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    shortBody,
    shortBodyText,
    bigBody,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    taskset: HAVE_TASKSET,
    reference: o.reference,
    dir,
    async restartUpstream (events, delay, cores, streamBytes = 0) {
      await upstream?.stop()
      upstream = await startProc('upstream', process.execPath, [resolve(ROOT, 'dist/bench/fake-upstream.js'), '--port', String(upstreamPort), '--events', String(events), '--delay', String(delay), '--stream-bytes', String(streamBytes)], { cores, ready: /listening/ })
    },
    async startWeir (workers, cores, nodeArgs = [], root = ROOT) {
      const port = await freePort()
      const cfg: Record<string, unknown> = {
        listen: { host: '127.0.0.1', port },
        oidc: { issuer: idp.issuer, client_id: 'bench', client_secret: 'bench-secret' },
        session: { jwt_secret: SECRET },
        store: { postgres_url: await dbUrl(`weir_bench_${nth++}`), max_connections: 5 },
        upstreams: [{ provider: 'anthropic', name: 'anthropic', base_url: this.upstreamUrl, auth: { api_key: 'sk-bench' } }],
      }
      if (supported('managed')) cfg.managed = { policies: [{ match: { groups: ['eng'] }, cli: { availableModels: ['sonnet', 'haiku', 'opus'] } }, { match: {}, cli: {} }] }
      if (supported('admin')) cfg.admin = { write_keys: [{ id: 'bench', key: 'k'.repeat(40) }] }
      const file = join(dir, `weir-${workers}.yaml`)
      writeFileSync(file, stringify(cfg))
      const proc = await startProc('weir', process.execPath, [...nodeArgs, resolve(root, 'dist/bin/weir.js'), 'serve', '--config', file, '--workers', String(workers)], { cores, env, ready: /weir listening on/, log: join(dir, `weir-${workers}w.log`) })
      this.weirUrl = `http://127.0.0.1:${port}`
      return { proc, url: this.weirUrl }
    },
    async startReference (cores) {
      const port = await freePort()
      const cfg = {
        listen: { host: '127.0.0.1', port },
        oidc: { issuer: idp.issuer, client_id: 'bench', client_secret: 'bench-secret' },
        session: { jwt_secret: SECRET },
        store: { postgres_url: await dbUrl('ref_bench') },
        upstreams: [{ provider: 'anthropic', base_url: this.upstreamUrl, auth: { api_key: 'sk-bench' } }],
        managed: { policies: [{ match: { groups: ['eng'] }, cli: { availableModels: ['sonnet', 'haiku', 'opus'] } }, { match: {}, cli: {} }] },
        admin: { write_keys: [{ id: 'bench', key: 'k'.repeat(40) }] },
      }
      const file = join(dir, 'reference.yaml')
      writeFileSync(file, stringify(cfg))
      const proc = await startProc('reference', CLAUDE, ['gateway', '--config', file], { cores, env: { ...env, CLAUDE_CONFIG_DIR: join(dir, 'ref-claude') }, ready: /listening on/i, timeoutMs: 90_000, log: join(dir, 'reference.log') })
      return { proc, url: `http://127.0.0.1:${port}` }
    },
    async close () {
      await upstream?.stop()
      await idp.close()
      for (const name of made) await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {})
      await admin.end({ timeout: 2 })
      await pg?.destroy()
    },
  }
  return world
}
