/**
 * The Postgres connection pool and the checks made on it at boot.
 *
 * Only the primary thread opens a pool (see lib/ipc.ts); every worker reaches the database through
 * RPCs. postgres.js reads `PG*` environment variables as defaults for every option it has, so each
 * option that matters is set here explicitly and an operator's shell cannot change pool behaviour
 * behind the config file's back.
 */
import postgres from 'postgres'
import { BootError } from '../errors.js'
import { ops, describeError } from '../log.js'

/** The pool type every store module takes. */
export type Sql = postgres.Sql

/** The `store:` settings the pool needs (a subset of the config block). */
export interface StoreSettings {
  postgres_url: string
  /** Overrides the user named in the URL. */
  username?: string
  /** Overrides the password in the URL. */
  password?: string
  max_connections: number
  /** `store.connect_timeout_seconds`: TCP connect plus authentication. Default 5 s. */
  connect_timeout_seconds?: number
}

/** Seconds an unused connection stays open before the pool closes it. */
const IDLE_TIMEOUT_S = 60
/** Seconds a connection lives at most, so server-side memory and failovers get recycled. */
const MAX_LIFETIME_S = 30 * 60
/** Seconds to wait for a TCP connection plus authentication, unless the config says otherwise. */
const CONNECT_TIMEOUT_S = 5
const connectTimeout = new WeakMap<Sql, number>()
/** Below this server version Weir still runs, but warns: it is tested on 14 and newer. */
const MIN_SERVER_VERSION_NUM = 140000

/**
 * Open the pool. No connection is made until the first query; call {@link verifyConnection} at boot
 * to fail fast on a bad URL. Server notices go to the debug log, never to the console.
 */
export function openPool (store: StoreSettings): Sql {
  const opts: postgres.Options<Record<string, postgres.PostgresType>> = {
    max: store.max_connections,
    connect_timeout: store.connect_timeout_seconds ?? CONNECT_TIMEOUT_S,
    idle_timeout: IDLE_TIMEOUT_S,
    max_lifetime: MAX_LIFETIME_S,
    onnotice: (n) => { ops.debug(`postgres notice: ${String(n.severity ?? '')} ${String(n.message ?? '')}`.trim()) },
    connection: { application_name: 'weir' },
  }
  if (store.username !== undefined && store.username !== '') opts.username = store.username
  if (store.password !== undefined && store.password !== '') opts.password = store.password
  const sql = postgres(store.postgres_url, opts)
  connectTimeout.set(sql, store.connect_timeout_seconds ?? CONNECT_TIMEOUT_S)
  return sql
}

/**
 * Remove credentials from a message: `scheme://user:secret@` becomes `scheme://user:***@`, and
 * each known secret becomes `***`. Secrets under 4 characters are only hidden inside URLs, since
 * replacing every occurrence of one or two letters would garble the message.
 */
export function redactSecrets (text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s/]*@/gi, '$1:***@')
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  return out
}

/**
 * Run `select 1` within `store.connect_timeout_seconds` (default 5 s). On failure throw a BootError naming the reason (with any password
 * removed) and the config file to fix. Warns when the server is older than PostgreSQL 14.
 */
export async function verifyConnection (sql: Sql, configPath: string): Promise<void> {
  const { options } = sql as unknown as { options?: { pass?: unknown, password?: unknown } }
  const configured = typeof options?.pass === 'string' ? options.pass : undefined
  let timer: NodeJS.Timeout | undefined
  try {
    const probe = sql<Array<{ v: string }>>`select current_setting('server_version_num') as v`
    const timeout = new Promise<never>((_resolve, reject) => {
      const limit = connectTimeout.get(sql) ?? CONNECT_TIMEOUT_S
      timer = setTimeout(() => { reject(Object.assign(new Error(`no answer within ${limit} s`), { code: 'CONNECT_TIMEOUT' })) }, limit * 1000)
    })
    const rows = await Promise.race([probe, timeout])
    const num = Number(rows[0]?.v)
    if (Number.isFinite(num) && num < MIN_SERVER_VERSION_NUM) {
      ops.warn(`PostgreSQL server version ${Math.floor(num / 10000)} is older than 14; Weir is tested on 14 and newer`)
    }
  } catch (err) {
    const secrets = configured !== undefined ? [configured, encodeURIComponent(configured)] : []
    const reason = redactSecrets(describeError(err), secrets)
    throw new BootError([`could not connect to Postgres: ${reason}. Check store.postgres_url in ${configPath}`], 1, { cause: err })
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** Codes that mean "the connection or server went away", not "the query was wrong". */
const TRANSIENT_CODES = new Set([
  '57P01', // admin_shutdown: the server (or an operator) ended the backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '57014', // query_canceled, which includes statement_timeout
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
])

/**
 * True when `err` is a database failure worth one retry or a fail-open decision: the server
 * restarted or is unreachable, the connection dropped, or a statement timed out. SQL mistakes,
 * constraint violations and permission errors are not transient. Looks one level into `cause`.
 */
export function isTransientDbError (err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true
  }
  return false
}
