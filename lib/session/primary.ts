/**
 * Sign-in's primary-side half: the RPC handlers behind lib/session/client.ts, and the revocation
 * feed that keeps every worker's list of signed-out sessions current.
 *
 * The feed reads `session_revocations` and pushes what is new to the workers with
 * `broadcast(REVOKED_EVENT, list)` (`session.revoked`). It re-reads when:
 *   - a worker of this replica revokes something (pushed at once, before the database round trip
 *     of the notification);
 *   - Postgres notifies `weir_session_revocations` (any replica inserted a row; the trigger in
 *     migration 0009 raises it), which reaches every replica within milliseconds;
 *   - the LISTEN connection (re)connects, in case a notification was missed while it was down;
 *   - every 10 s regardless, as a fallback should notifications be lost altogether.
 * A worker that starts later (or replaces a crashed one) is sent the whole current list when it
 * joins. Expired rows are deleted once a minute.
 *
 * At boot it also checks what sign-in needs from the filesystem (the Google service-account key
 * of `oidc.google_groups`), so a bad path stops the gateway with a clear reason instead of failing
 * each sign-in.
 */
import { X509Certificate } from 'node:crypto'
import type { LoadedConfig } from '../config/load.js'
import { BootError } from '../errors.js'
import { broadcast, onWorkerJoin, registerRpc, type RpcArgs } from '../ipc.js'
import { describeError, ops } from '../log.js'
import { RpcArgumentError } from '../rpc-args.js'
import type { Sql } from '../store/db.js'
import { TableFollower } from '../store/follow.js'
import { readServiceAccount } from '../auth/google-groups.js'
import { REVOKED_EVENT, SESSION_RPC } from './rpc-map.js'
import type { Revocation } from './sessions.js'
import {
  FAMILY_TTL_S, REVOCATION_CHANNEL, activeRevocations, familyKey, insertRefreshRevocation, insertRevocation, kvAdd, kvSwap,
  linkFamily, pruneRevocations, recordPrincipal, refreshRevoked, refreshStanding, revokeFamilyOf, signOutSubject,
} from './store.js'

const REREAD_MS = 10_000
const PRUNE_EVERY = 6 // re-reads (one minute)

const optStr = (v: string | undefined): string | undefined => v !== undefined && v !== '' ? v : undefined

const keyOf = (r: Revocation): string => r.id !== undefined ? `id:${r.id}` : `sub:${r.sub ?? ''}:${r.before ?? 0}`

/** A checked `session.revoke` argument as a `Revocation`: one token, or a subject's tokens before a time. */
function toRevocation (a: RpcArgs<'session.revoke'>): Revocation {
  if (a.id !== undefined) return { id: a.id, ...(optStr(a.sub) !== undefined ? { sub: a.sub } : {}), exp: a.exp }
  if (optStr(a.sub) === undefined) throw new RpcArgumentError('session.revoke: needs id, or sub with before')
  if (a.before === undefined) throw new RpcArgumentError('session.revoke: before is required with sub')
  return { sub: a.sub, before: a.before, exp: a.exp }
}

/** Keeps the workers' revocation lists in step with the database. */
export class RevocationFeed {
  private readonly known = new Map<string, Revocation>()
  private failing = false
  private reads = 0
  private readonly follower: TableFollower

  constructor (private readonly sql: Sql) {
    this.follower = new TableFollower(sql, {
      channel: REVOCATION_CHANNEL,
      everyMs: REREAD_MS,
      what: 'sign-outs',
      load: async () => { await this.readOnce() },
      onTick: () => {
        if (++this.reads % PRUNE_EVERY === 0) pruneRevocations(this.sql).catch((err: unknown) => ops.warn(`revocation prune failed: ${describeError(err)}`))
      },
    })
  }

  /** Every revocation still in force (sent to joining workers). */
  current (): Revocation[] {
    const now = Date.now() / 1000
    return [...this.known.values()].filter((r) => r.exp > now)
  }

  /** Push `list` to the workers now and remember it. */
  push (list: readonly Revocation[]): void {
    const fresh = list.filter((r) => !this.known.has(keyOf(r)))
    for (const r of fresh) this.known.set(keyOf(r), r)
    if (fresh.length > 0) broadcast(REVOKED_EVENT, fresh)
  }

  /** Re-read the table (coalescing overlapping calls) and push what is new. */
  async reread (): Promise<void> { await this.follower.refresh() }

  private async readOnce (): Promise<void> {
    try {
      const rows = await activeRevocations(this.sql)
      const now = Date.now() / 1000
      for (const [k, r] of this.known) if (r.exp <= now) this.known.delete(k)
      this.push(rows)
      if (this.failing) { this.failing = false; ops.info('revocation list readable again') }
    } catch (err) {
      // Once per outage: sign-outs already pushed stay in force; new ones wait for the database.
      if (!this.failing) ops.warn(`cannot read the revocation list (retrying every ${REREAD_MS / 1000}s): ${describeError(err)}`)
      this.failing = true
    }
  }

  async start (): Promise<void> { await this.follower.start() }
  async stop (): Promise<void> { await this.follower.stop() }
}

/** Warn when the private_key_jwt certificate is outside its validity or close to its end. */
function checkAssertionCertificate (pem: string): void {
  const cert = new X509Certificate(pem)
  const now = Date.now()
  const to = Date.parse(cert.validTo)
  if (now < Date.parse(cert.validFrom) || now > to) {
    ops.warn(`oidc.client_assertion: the certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo}); the identity provider will refuse sign-ins and refreshes`)
  } else if (to - now < 30 * 86_400_000) {
    ops.warn(`oidc.client_assertion: the certificate expires ${cert.validTo}; register its successor with the identity provider and roll it out before then`)
  }
}

/** Primary module: RPC handlers, revocation feed, boot checks. */
export async function startSignIn (ctx: { sql: Sql, loaded: LoadedConfig }): Promise<{ stop: () => Promise<void> }> {
  const { sql } = ctx
  const oidc = ctx.loaded.config.oidc
  if (oidc?.google_groups !== undefined) {
    try {
      await readServiceAccount(oidc.google_groups.service_account_json_path)
    } catch (err) {
      throw new BootError([`oidc.google_groups: ${describeError(err)}`])
    }
  }
  if (oidc?.client_assertion !== undefined) checkAssertionCertificate(oidc.client_assertion.certificate_pem)

  const feed = new RevocationFeed(sql)
  registerRpc(SESSION_RPC, {
    'session.kvAdd': async (a) => await kvAdd(sql, a.key, a.value, a.ttlSeconds),
    'session.kvSwap': async (a) => await kvSwap(sql, a.key, a.expect, a.value, a.ttlSeconds),
    'session.recordPrincipal': async (a) => {
      await recordPrincipal(sql, { sub: a.sub, email: optStr(a.email), name: optStr(a.name), groups: a.groups })
      return null
    },
    'session.revoke': async (a) => {
      const r = toRevocation(a)
      await insertRevocation(sql, r)
      feed.push([r])
      // Signing out an access token ends its sign-in: the refresh tokens of its family stop working.
      return r.id !== undefined ? await revokeFamilyOf(sql, familyKey.access(r.id), FAMILY_TTL_S) : null
    },
    // Sign a subject out everywhere (the admin API's sessions endpoint): tokens issued until now are
    // refused until the longest a session token lives, and every recorded sign-in loses its refresh grant.
    'session.signOutSubject': async (a) => {
      const sub = a.sub
      const now = Math.floor(Date.now() / 1000)
      // `before` is exclusive on iat: a token minted in this very second is signed out too.
      const before = now + 1
      const { revocation, families } = await signOutSubject(sql, sub, before, now + Math.ceil(ctx.loaded.config.session.ttl_hours * 3600) + 300, FAMILY_TTL_S)
      feed.push([revocation])
      return { families, not_before: before }
    },
    'session.revokeRefresh': async (a) => {
      const { hash, ttlSeconds: ttl } = a
      await insertRefreshRevocation(sql, hash, ttl)
      return await revokeFamilyOf(sql, familyKey.refresh(hash), ttl)
    },
    'session.refreshRevoked': async (a) => await refreshRevoked(sql, a.hash),
    'session.refreshStanding': async (a) => await refreshStanding(sql, a.hashes),
    'session.link': async (a) => {
      await linkFamily(sql, {
        family: a.family,
        sub: optStr(a.sub),
        tokenId: a.tokenId,
        tokenTtl: a.tokenTtl,
        refreshHash: optStr(a.refreshHash),
        refreshTtl: FAMILY_TTL_S,
      })
      return null
    },
  })
  onWorkerJoin((send) => { send(REVOKED_EVENT, feed.current()) })
  await feed.start()
  return { stop: async () => { await feed.stop() } }
}
