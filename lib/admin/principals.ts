/**
 * Weir's admin extensions about people, primary side: who Weir has seen, and signing a person out
 * everywhere. Served under `/v1/organizations/principals` with the admin API's credentials.
 *
 *   GET  /v1/organizations/principals?email=… | ?user_id=…   the subjects Weir has seen
 *   POST /v1/organizations/principals/sign_out {user_id | email}   (write credential)
 *
 * "Seen" means the `principals` table (migration 0014): every subject that signed in, refreshed or
 * made a metered request, kept without personal data and never swept. Emails come from
 * `principal_emails` (last seen, swept after admin.identity_retention_days) and match
 * case-insensitively, so an email can name several subjects (an IdP migration, a reused address):
 * resolving one for a cap refuses to guess, while sign-out signs every one of them out.
 *
 * The same rules guard user caps (lib/admin/service.ts): `scope.user_id` must be a subject Weir has
 * seen unless `force` is given, and `scope.email` resolves to exactly one subject.
 */
import { callPrimary } from '../ipc.js'
import { audit } from '../log.js'
import type { Sql } from '../store/db.js'
import type { AdminCall, AdminReply } from './call.js'
import { EMAIL } from './validate.js'

interface PrincipalRow { principal: string, email: string | null, name: string | null, groups: unknown, first_seen: Date, last_seen: Date }

const principalJson = (r: PrincipalRow): Record<string, unknown> => ({
  type: 'principal',
  user_id: r.principal,
  email: r.email,
  name: r.name,
  groups: Array.isArray(r.groups) ? r.groups.filter((g): g is string => typeof g === 'string') : [],
  first_seen_at: r.first_seen.toISOString(),
  last_seen_at: r.last_seen.toISOString(),
})

/** Subjects last seen with `email` (case-insensitive), sorted. */
export async function subjectsByEmail (sql: Sql, email: string): Promise<string[]> {
  const rows = await sql<Array<{ principal: string }>>`
    select principal from principal_emails where lower(email) = lower(${email}) order by principal`
  return rows.map((r) => r.principal)
}

/** Whether Weir has ever seen subject `sub`. */
export async function seen (sql: Sql, sub: string): Promise<boolean> {
  return (await sql`select 1 from principals where principal = ${sub}`).length > 0
}

const list = (subs: readonly string[]): string => subs.map((s) => `'${s}'`).join(', ')

/**
 * Resolve a user scope to the subject a cap keys on: `email` to its one subject, `id` checked
 * against the subjects Weir has seen (skipped with `force`). Returns the subject or a 400 message
 * that says how to fix the request.
 */
export async function resolveUser (sql: Sql, scope: { id: string, email?: string | undefined }, force: boolean): Promise<string | { message: string }> {
  if (scope.email !== undefined) {
    const subs = await subjectsByEmail(sql, scope.email)
    if (subs.length === 1) return subs[0] as string
    if (subs.length === 0) {
      return { message: `scope.email: no principal Weir has seen has the email '${scope.email}' (emails are learned at sign-in and kept admin.identity_retention_days); once the person has signed in, retry, or give their IdP subject as scope.user_id with "force": true` }
    }
    return { message: `scope.email: '${scope.email}' matches ${subs.length} subjects (${list(subs)}); give the one you mean as scope.user_id` }
  }
  if (force || await seen(sql, scope.id)) return scope.id
  let hint = ''
  if (EMAIL.test(scope.id)) {
    const subs = await subjectsByEmail(sql, scope.id)
    hint = subs.length === 0
      ? '; it looks like an email: caps key on the IdP subject (the sub claim), so send the email as scope.email instead'
      : `; it is the email of ${list(subs)}: caps key on the IdP subject, so send that as scope.user_id, or the email as scope.email`
  }
  return { message: `scope.user_id: no principal Weir has seen has the subject '${scope.id}'${hint}. To set a cap for someone who has not signed in yet, add "force": true` }
}

const ok = (json: unknown): AdminReply => ({ json })
const bad = (message: string): AdminReply => ({ error: 'GW_BAD_REQUEST', message })

export async function handlePrincipals (sql: Sql, call: AdminCall): Promise<AdminReply> {
  if (call.path === '' && call.method === 'GET') return await lookup(sql, new URLSearchParams(call.query))
  if (call.path === '/sign_out' && call.method === 'POST') return call.canWrite ? await signOut(sql, call) : { error: 'GW_FORBIDDEN', message: 'requires write:spend_limits' }
  return { error: 'GW_NOT_FOUND', message: 'not found' }
}

async function lookup (sql: Sql, q: URLSearchParams): Promise<AdminReply> {
  const email = q.get('email')
  const user = q.get('user_id')
  if ((email === null) === (user === null)) return bad('give exactly one of email or user_id')
  if (email === '' || user === '') return bad(`${email === '' ? 'email' : 'user_id'}: must not be empty`)
  const rows = await sql<PrincipalRow[]>`
    select p.principal, e.email, e.name, e.groups, p.first_seen, p.last_seen
    from principals p left join principal_emails e on e.principal = p.principal
    where (${email}::text is null or lower(e.email) = lower(${email})) and (${user}::text is null or p.principal = ${user})
    order by p.principal`
  return ok({ data: rows.map(principalJson) })
}

async function signOut (sql: Sql, call: AdminCall): Promise<AdminReply> {
  let body: unknown
  try { body = JSON.parse(call.body ?? '') } catch { return bad('invalid JSON body') }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('request body: must be a JSON object')
  const { user_id: user, email } = body as Record<string, unknown>
  if ((user === undefined) === (email === undefined)) return bad('give exactly one of user_id or email')
  let subs: string[]
  if (email !== undefined) {
    if (typeof email !== 'string' || !EMAIL.test(email)) return bad('email: must be an email address (name@domain)')
    subs = await subjectsByEmail(sql, email)
    if (subs.length === 0) return { error: 'GW_NOT_FOUND', message: `no principal Weir has seen has the email '${email}'` }
  } else {
    if (typeof user !== 'string' || user === '') return bad('user_id: must be a non-empty string')
    if (!await seen(sql, user)) return { error: 'GW_NOT_FOUND', message: `no principal Weir has seen has the subject '${user}'` }
    subs = [user]
  }
  let families = 0
  let notBefore = 0
  for (const sub of subs) {
    const r = await callPrimary('session.signOutSubject', { sub }, 10_000)
    families += r.families
    notBefore = r.not_before
    await sql`insert into admin_audit (actor, action, target, before, after)
      values (${call.actor}, 'principal.sign_out', ${sub}, null, ${sql.json({ sign_ins_ended: r.families, not_before: r.not_before })})`
    audit('admin.sign_out', { actor: call.actor, sub, sign_ins_ended: r.families, ...(typeof email === 'string' ? { email } : {}) })
  }
  return ok({ type: 'sign_out', user_ids: subs, sign_ins_ended: families, not_before: new Date(notBefore * 1000).toISOString() })
}
