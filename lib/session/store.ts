/**
 * Sign-in's SQL, run by the primary (which owns the pool): revocations, the principal directory,
 * and the two `kv` operations the device flow needs beyond lib/store/kv.ts.
 *
 * - `session_revocations` (migration 0009): signed-out access tokens (by token id) and
 *   "everything this subject held before T" cut-offs. A statement-level trigger NOTIFYs
 *   `weir_session_revocations`, so every replica's primary re-reads the list and pushes it to its
 *   workers. Rows go once the tokens they name would have expired anyway.
 * - `refresh_token_revocations` (migration 0010): SHA-256 of IdP refresh tokens a client signed out with; the
 *   token endpoint refuses them even when the IdP has no revocation endpoint. A row
 *   `family:<id>` refuses every refresh token of one sign-in (its session family).
 * - session families, in `kv`: each sign-in gets a random family id, carried through its refreshes.
 *   `sess:at:<token id>` names the family of an access token (kept as long as the token lives) and
 *   `sess:rt:<SHA-256 of the refresh token>` that of a refresh token (kept as long as a refresh
 *   revocation), so signing out with either token ends the refresh grant for the whole sign-in.
 * - `session_families` (migration 0014): the subject of each session family, so an administrator
 *   can sign a person out everywhere (`signOutSubject`), refresh grants included.
 * - `principal_emails`: last-seen email, name and groups of each principal, written at sign-in and
 *   refresh (personal data, swept after admin.identity_retention_days).
 */
import type { Sql } from '../store/db.js'
import type { Revocation } from './sessions.js'

/** NOTIFY channel raised by the trigger on `session_revocations`. */
export const REVOCATION_CHANNEL = 'weir_session_revocations'

/**
 * Insert `value` under `key` unless a live row holds it. Returns whether it was stored (an expired
 * row is replaced).
 */
export async function kvAdd (sql: Sql, key: string, value: string, ttlSeconds: number): Promise<boolean> {
  const rows = await sql`
    insert into kv as k (key, value, expires_at)
    values (${key}, ${value}, now() + ${ttlSeconds}::float8 * interval '1 second')
    on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at
      where k.expires_at is not null and k.expires_at <= now()
    returning key`
  return rows.length === 1
}

/**
 * Replace the live value `expect` under `key` with `value` (new expiry `ttlSeconds`). Returns false
 * when the row is gone, expired or holds something else — a compare-and-swap, so two requests
 * racing to finish the same grant cannot both win.
 */
export async function kvSwap (sql: Sql, key: string, expect: string, value: string, ttlSeconds: number): Promise<boolean> {
  const rows = await sql`
    update kv set value = ${value}, expires_at = now() + ${ttlSeconds}::float8 * interval '1 second'
    where key = ${key} and value = ${expect} and (expires_at is null or expires_at > now())
    returning key`
  return rows.length === 1
}

/** Last-seen identity of a principal. */
export interface PrincipalSeen {
  sub: string
  email?: string | undefined
  name?: string | undefined
  groups?: readonly string[] | undefined
}

/** Upsert the principal's email, name and groups, and note the subject in `principals` (never swept). */
export async function recordPrincipal (sql: Sql, p: PrincipalSeen): Promise<void> {
  const groups = p.groups === undefined ? null : sql.json([...p.groups])
  await sql`
    insert into principal_emails (principal, email, name, groups, updated_at)
    values (${p.sub}, ${p.email ?? null}, ${p.name ?? null}, ${groups}, now())
    on conflict (principal) do update set
      email = excluded.email, name = excluded.name, groups = excluded.groups, updated_at = now()`
  await sql`insert into principals (principal) values (${p.sub}) on conflict (principal) do update set last_seen = now()`
}

/** Store one revocation. A repeated token id keeps the later expiry. */
export async function insertRevocation (sql: Sql, r: Revocation): Promise<void> {
  if (r.id === undefined && (r.sub === undefined || r.before === undefined)) throw new TypeError('a revocation names a token id, or a subject and a cut-off')
  if (r.id !== undefined) {
    await sql`
      insert into session_revocations (token_id, sub, expires_at)
      values (${r.id}, ${r.sub ?? null}, to_timestamp(${r.exp}))
      on conflict (token_id) do update set expires_at = greatest(session_revocations.expires_at, excluded.expires_at)`
  } else {
    await sql`
      insert into session_revocations (sub, not_before, expires_at)
      values (${r.sub as string}, ${r.before as number}, to_timestamp(${r.exp}))`
  }
}

/** Every revocation that still matters. */
export async function activeRevocations (sql: Sql): Promise<Revocation[]> {
  const rows = await sql<Array<{ token_id: string | null, sub: string | null, not_before: string | null, exp: number }>>`
    select token_id, sub, not_before::text, extract(epoch from expires_at)::float8 as exp
    from session_revocations where expires_at > now() order by seq`
  return rows.map((r) => r.token_id !== null
    ? { id: r.token_id, exp: r.exp }
    : { sub: r.sub as string, before: Number(r.not_before), exp: r.exp })
}

/** Remember a signed-out IdP refresh token (by hash) for `ttlSeconds`. */
export async function insertRefreshRevocation (sql: Sql, hash: string, ttlSeconds: number): Promise<void> {
  await sql`
    insert into refresh_token_revocations (token_hash, expires_at)
    values (${hash}, now() + ${ttlSeconds}::float8 * interval '1 second')
    on conflict (token_hash) do update set expires_at = excluded.expires_at`
}

/** Whether a refresh token (by hash) was signed out. */
export async function refreshRevoked (sql: Sql, hash: string): Promise<boolean> {
  const rows = await sql`select 1 from refresh_token_revocations where token_hash = ${hash} and expires_at > now()`
  return rows.length > 0
}

/**
 * How long a signed-out refresh token or family stays refused, and a refresh token's family link
 * is kept (IdPs rarely keep refresh tokens longer).
 */
export const FAMILY_TTL_S = 180 * 86_400

/** Ids of the `kv` rows that map tokens to their session family. */
export const familyKey = {
  access: (tokenId: string): string => `sess:at:${tokenId}`,
  refresh: (hash: string): string => `sess:rt:${hash}`,
}

/** Record which session family an access token (and its refresh token, when there is one) belongs to. */
export async function linkFamily (sql: Sql, l: { family: string, sub?: string | undefined, tokenId: string, tokenTtl: number, refreshHash?: string | undefined, refreshTtl: number }): Promise<void> {
  const rows: Array<[string, number]> = [[familyKey.access(l.tokenId), l.tokenTtl]]
  if (l.refreshHash !== undefined) rows.push([familyKey.refresh(l.refreshHash), l.refreshTtl])
  for (const [key, ttl] of rows) {
    await sql`
      insert into kv (key, value, expires_at) values (${key}, ${l.family}, now() + ${ttl}::float8 * interval '1 second')
      on conflict (key) do update set value = excluded.value, expires_at = greatest(kv.expires_at, excluded.expires_at)`
  }
  if (l.sub !== undefined) {
    await sql`
      insert into session_families (family, sub, expires_at) values (${l.family}, ${l.sub}, now() + ${l.refreshTtl}::float8 * interval '1 second')
      on conflict (family) do update set expires_at = greatest(session_families.expires_at, excluded.expires_at)`
  }
}

/**
 * Sign `sub` out everywhere: every session token issued before `before` (unix seconds) is refused
 * until `exp`, and every recorded sign-in (session family) of `sub` loses its refresh grant for
 * `familyTtl` seconds. Returns the revocation (for the feed) and how many sign-ins were ended.
 */
export async function signOutSubject (sql: Sql, sub: string, before: number, exp: number, familyTtl: number): Promise<{ revocation: Revocation, families: number }> {
  const revocation: Revocation = { sub, before, exp }
  const families = await sql.begin(async (tx) => {
    await insertRevocation(tx as unknown as Sql, revocation)
    const rows = await tx`
      insert into refresh_token_revocations (token_hash, expires_at)
      select 'family:' || family, now() + ${familyTtl}::float8 * interval '1 second'
      from session_families where sub = ${sub} and expires_at > now()
      on conflict (token_hash) do update set expires_at = greatest(refresh_token_revocations.expires_at, excluded.expires_at)
      returning token_hash`
    return rows.length
  })
  return { revocation, families }
}

/**
 * Refuse every refresh token of the family `kvKey` points at (a `familyKey` row), for `ttlSeconds`.
 * Returns the family id, or null when the token has no recorded family (minted before families).
 */
export async function revokeFamilyOf (sql: Sql, kvKey: string, ttlSeconds: number): Promise<string | null> {
  const rows = await sql<Array<{ family: string }>>`
    insert into refresh_token_revocations (token_hash, expires_at)
    select 'family:' || value, now() + ${ttlSeconds}::float8 * interval '1 second'
    from kv where key = ${kvKey} and (expires_at is null or expires_at > now())
    on conflict (token_hash) do update set expires_at = greatest(refresh_token_revocations.expires_at, excluded.expires_at)
    returning substr(token_hash, 8) as family`
  return rows[0]?.family ?? null
}

/**
 * A refresh token's standing, by every hash it may be on record under: signed out (itself or its
 * family), and its family id when known.
 */
export async function refreshStanding (sql: Sql, hashes: readonly string[]): Promise<{ revoked: boolean, family: string | null }> {
  const keys = hashes.map(familyKey.refresh)
  const [row] = await sql<Array<{ family: string | null, revoked: boolean }>>`
    with fam as (
      select value from kv where key = any(${keys}::text[]) and (expires_at is null or expires_at > now()) limit 1
    )
    select (select value from fam) as family,
      exists (select 1 from refresh_token_revocations
        where expires_at > now() and (token_hash = any(${[...hashes]}::text[]) or token_hash = 'family:' || (select value from fam))) as revoked`
  return { revoked: row?.revoked === true, family: row?.family ?? null }
}

/** Delete revocations whose tokens have expired. Returns rows removed. */
export async function pruneRevocations (sql: Sql): Promise<number> {
  const a = await sql`delete from session_revocations where expires_at <= now()`
  const b = await sql`delete from refresh_token_revocations where expires_at <= now()`
  const c = await sql`delete from session_families where expires_at <= now()`
  return a.count + b.count + c.count
}
