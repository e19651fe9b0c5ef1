/**
 * `weir admin`: manage a running gateway through its admin API (lib/admin/) — caps, sign-outs, the
 * spend report, and the usage, cost and Claude Code reports (admin-reports.ts) — with the key in WEIR_ADMIN_KEY and the URL from --url or WEIR_URL
 * (lib/cli/admin-client.ts).
 *
 * Amounts go in with their unit (lib/cli/money.ts: `$12.10`, `12.10`, `1210c`, `unlimited`) and
 * come out as the API's exact whole-cent strings next to their dollar spelling; no amount passes
 * through a JavaScript number. People can be named by IdP subject (`--user`) or by email
 * (`--email`), which the gateway resolves to the subject(s) it has seen; a cap for an email that
 * matches several subjects is refused rather than guessed.
 */
import { parseFlags, UsageError } from './args.js'
import { AdminFailure, EXIT, call, table, target, type AdminTarget } from './admin-client.js'
import { claudeCodeReport, costReport, usageReport } from './admin-reports.js'
import { AmountError, formatDollars, formatSpend, parseAmount } from './money.js'

const HELP = `Usage: weir admin <command> [flags]

Talks to a running Weir gateway's admin API.
  WEIR_ADMIN_KEY   admin key (gateway.yaml admin.write_keys, or admin.read_keys for reading)
  WEIR_URL         gateway URL (or --url URL on any command)

Commands:
  caps list [--scope user|group|organization] [--json]
  caps set (--user SUB | --email EMAIL | --group NAME | --org) --amount AMOUNT [--period P] [--force] [--json]
  caps rm ID | caps rm (--user SUB | --email EMAIL | --group NAME | --org) --period P
  caps show (--email EMAIL | --user SUB) [--json]
  sessions rm (--email EMAIL | --user SUB) [--json]
  spend --by user|group|model [--period P] [--bucket KEY] [--limit N] [--json]
  usage [--from T] [--to T] [--bucket 1d|1h|1m] [--group-by D,D] [FILTERS] [--json]
  cost [--from T] [--to T] [--bucket 1d|1h|1m] [--group-by D,D] [FILTERS] [--json]
  claude-code [--from DAY] [--to DAY] [--json]

Reports (docs/reports.md): T is a UTC day (2026-03-01) or an RFC 3339 timestamp; --to is
exclusive (default now; claude-code: the day after --from). Default range: the last 7 days, 24
hours or 60 minutes. D is model, user (email), group (IdP group), upstream, speed, account_id,
context_window, or (cost) description. FILTERS: --model M, --email E, --group G, --upstream U,
--speed fast|standard, each comma-separated for several. Every page is fetched.

AMOUNT says its unit: dollars ($12.10, 12.10, 12usd), cents (1210c) or unlimited.
A bare number (12) is refused: it could be either. P is daily, weekly or monthly (default monthly).
--force sets a user cap for a subject the gateway has never seen (someone not signed in yet).

Exit codes: 0 done, 1 the gateway refused or nothing matched, 64 usage, 69 gateway unreachable
or failing, 77 missing or rejected WEIR_ADMIN_KEY.
`

const LIMITS = '/v1/organizations/spend_limits'
const PRINCIPALS = '/v1/organizations/principals'

type Values = Record<string, string | boolean | undefined>
type Out = (s: string) => void

interface Cap { id: string, scope: { type: string, user_id?: string, rbac_group_id?: string }, amount: string | null, period: string }

const scopeText = (s: Cap['scope']): string => s.type === 'user' ? `user:${s.user_id ?? ''}` : s.type === 'rbac_group' ? `group:${s.rbac_group_id ?? ''}` : 'organization'
const amountCols = (a: string | null): [string, string] => a === null ? ['unlimited', 'unlimited'] : [a, formatDollars(a)]
const str = (v: string | boolean | undefined): string | undefined => typeof v === 'string' ? v : undefined
const period = (v: Values, fallback?: string): string | undefined => {
  const p = str(v.period) ?? fallback
  if (p !== undefined && p !== 'daily' && p !== 'weekly' && p !== 'monthly') throw new UsageError(`--period must be daily, weekly or monthly, not '${p}'`)
  return p
}

/** Exactly one of the person selectors. */
function person (v: Values): { user: string } | { email: string } {
  const user = str(v.user)
  const email = str(v.email)
  if ((user === undefined) === (email === undefined)) throw new UsageError('name the person with exactly one of --email EMAIL or --user SUBJECT')
  return user !== undefined ? { user } : { email: email as string }
}

/** Exactly one scope selector, as the API's scope object. */
function scopeOf (v: Values): Record<string, string> {
  const given = ['user', 'email', 'group', 'org'].filter((k) => v[k] !== undefined)
  if (given.length !== 1) throw new UsageError('give exactly one scope: --user SUBJECT, --email EMAIL, --group NAME or --org')
  if (v.org !== undefined) return { type: 'organization' }
  if (v.group !== undefined) return { type: 'rbac_group', rbac_group_id: str(v.group) as string }
  return v.user !== undefined ? { type: 'user', user_id: str(v.user) as string } : { type: 'user', email: str(v.email) as string }
}

/** The subjects the gateway has seen for a person; a failure when there is none. */
async function subjects (t: AdminTarget, who: { user: string } | { email: string }): Promise<Array<{ user_id: string, email: string | null }>> {
  const q = 'email' in who ? `email=${encodeURIComponent(who.email)}` : `user_id=${encodeURIComponent(who.user)}`
  const r = await call(t, 'GET', `${PRINCIPALS}?${q}`) as { data: Array<{ user_id: string, email: string | null }> }
  if (r.data.length === 0) throw new AdminFailure(`no principal the gateway has seen has ${'email' in who ? `the email '${who.email}'` : `the subject '${who.user}'`}`, EXIT.refused)
  return r.data
}

async function allCaps (t: AdminTarget, scope: string | undefined): Promise<Cap[]> {
  const out: Cap[] = []
  let after: string | null = null
  for (;;) {
    const q = new URLSearchParams({ limit: '1000' })
    if (scope !== undefined) q.set('scope_type', scope)
    if (after !== null) q.set('after_id', after)
    const page = await call(t, 'GET', `${LIMITS}?${q.toString()}`) as { data: Cap[], has_more: boolean, last_id: string | null }
    out.push(...page.data)
    if (!page.has_more || page.last_id === null) return out
    after = page.last_id
  }
}

async function capsList (t: AdminTarget, v: Values, out: Out): Promise<void> {
  const scopes: Record<string, string> = { user: 'user', group: 'rbac_group', rbac_group: 'rbac_group', organization: 'organization', org: 'organization' }
  const s = str(v.scope)
  if (s !== undefined && scopes[s] === undefined) throw new UsageError(`--scope must be user, group or organization, not '${s}'`)
  const caps = await allCaps(t, s === undefined ? undefined : scopes[s])
  if (v.json === true) { out(JSON.stringify({ data: caps }, null, 2) + '\n'); return }
  out(table(['ID', 'SCOPE', 'PERIOD', 'AMOUNT_CENTS', 'AMOUNT'], caps.map((c) => [c.id, scopeText(c.scope), c.period, ...amountCols(c.amount)])))
}

async function capsSet (t: AdminTarget, v: Values, out: Out): Promise<void> {
  const scope = scopeOf(v)
  const raw = str(v.amount)
  if (raw === undefined) throw new UsageError('--amount is required: dollars ($12.10), cents (1210c) or unlimited')
  let amount: string | null
  try { amount = parseAmount(raw) } catch (err) { if (err instanceof AmountError) throw new UsageError(err.message); throw err }
  const body: Record<string, unknown> = { scope, amount, period: period(v, 'monthly') }
  if (v.force === true) body.force = true
  const cap = await call(t, 'POST', LIMITS, body) as Cap
  if (v.json === true) { out(JSON.stringify(cap, null, 2) + '\n'); return }
  const [cents, dollars] = amountCols(cap.amount)
  out(`${cap.id}  ${scopeText(cap.scope)}  ${cap.period}  ${cents === 'unlimited' ? 'unlimited' : `${cents} cents (${dollars})`}\n`)
}

async function capsRm (t: AdminTarget, v: Values, ids: string[], out: Out): Promise<void> {
  const selector = ['user', 'email', 'group', 'org'].some((k) => v[k] !== undefined)
  if (ids.length > 1) throw new UsageError('give one spend limit id')
  let id = ids[0]
  if (id !== undefined && selector) throw new UsageError('give a spend limit id or a scope, not both')
  if (id === undefined) {
    if (!selector) throw new UsageError('give a spend limit id (from caps list) or a scope and --period')
    const p = period(v)
    if (p === undefined) throw new UsageError('--period is required when removing by scope')
    let scope = scopeOf(v)
    if (scope.email !== undefined) {
      const subs = await subjects(t, { email: scope.email })
      if (subs.length > 1) throw new AdminFailure(`'${scope.email}' matches ${subs.length} subjects (${subs.map((s) => s.user_id).join(', ')}); use --user`, EXIT.refused)
      scope = { type: 'user', user_id: (subs[0] as { user_id: string }).user_id }
    }
    const key = scope.type === 'user' ? scope.user_id : scope.type === 'rbac_group' ? scope.rbac_group_id : undefined
    const found = (await allCaps(t, scope.type)).find((c) => c.period === p && (c.scope.user_id ?? c.scope.rbac_group_id) === key)
    if (found === undefined) throw new AdminFailure(`no ${p} cap for ${scopeText(scope as Cap['scope'])}`, EXIT.refused)
    id = found.id
  }
  const r = await call(t, 'DELETE', `${LIMITS}/${encodeURIComponent(id)}`) as { id: string }
  out(v.json === true ? JSON.stringify(r, null, 2) + '\n' : `removed ${r.id}\n`)
}

interface Summary { scope: { user_id: string }, actor: { email_address: string | null }, amount: string | null, period: string, source: Cap['scope'] | null, period_to_date_spend: string }

async function capsShow (t: AdminTarget, v: Values, out: Out): Promise<void> {
  const subs = await subjects(t, person(v))
  const q = subs.map((s) => `user_ids[]=${encodeURIComponent(s.user_id)}`).join('&')
  const r = await call(t, 'GET', `${LIMITS}/effective?${q}`) as { data: Summary[] }
  if (v.json === true) { out(JSON.stringify(r, null, 2) + '\n'); return }
  out(table(['USER', 'EMAIL', 'PERIOD', 'CAP_CENTS', 'CAP', 'FROM', 'SPENT_CENTS', 'SPENT'], r.data.map((s) => [
    s.scope.user_id, s.actor.email_address ?? '-', s.period, ...amountCols(s.amount),
    s.source === null ? '-' : scopeText(s.source), s.period_to_date_spend, formatSpend(s.period_to_date_spend),
  ])))
}

async function sessionsRm (t: AdminTarget, v: Values, out: Out): Promise<void> {
  const who = person(v)
  const r = await call(t, 'POST', `${PRINCIPALS}/sign_out`, 'email' in who ? { email: who.email } : { user_id: who.user }) as { user_ids: string[], sign_ins_ended: number, not_before: string }
  if (v.json === true) { out(JSON.stringify(r, null, 2) + '\n'); return }
  out(`signed out ${r.user_ids.join(', ')}: session tokens issued before ${r.not_before} are refused, ${r.sign_ins_ended} sign-in(s) can no longer refresh\n`)
}

async function spend (t: AdminTarget, v: Values, out: Out): Promise<void> {
  const by = str(v.by)
  if (by !== 'user' && by !== 'group' && by !== 'model') throw new UsageError('--by must be user, group or model')
  const q = new URLSearchParams({ by, period: period(v, 'monthly') as string })
  if (str(v.bucket) !== undefined) q.set('bucket', str(v.bucket) as string)
  if (str(v.limit) !== undefined) q.set('limit', str(v.limit) as string)
  const r = await call(t, 'GET', `/v1/organizations/spend_report?${q.toString()}`) as { period: string, bucket: string, data: Array<{ key: string, email?: string | null, spend: string }>, has_more: boolean, total: { spend: string } }
  if (v.json === true) { out(JSON.stringify(r, null, 2) + '\n'); return }
  const head = [by.toUpperCase(), ...(by === 'user' ? ['EMAIL'] : []), 'SPENT_CENTS', 'SPENT']
  const rows = r.data.map((x) => [x.key, ...(by === 'user' ? [x.email ?? '-'] : []), x.spend, formatSpend(x.spend)])
  out(`${r.period} ${r.bucket}\n` + table(head, rows) + `total (all users): ${r.total.spend} cents (${formatSpend(r.total.spend)})${r.has_more ? '; more rows than shown (--limit)' : ''}\n`)
}

const FLAGS = {
  url: { type: 'string' }, json: { type: 'boolean' }, user: { type: 'string' }, email: { type: 'string' }, group: { type: 'string' },
  org: { type: 'boolean' }, amount: { type: 'string' }, period: { type: 'string' }, force: { type: 'boolean' }, scope: { type: 'string' },
  by: { type: 'string' }, bucket: { type: 'string' }, limit: { type: 'string' },
  from: { type: 'string' }, to: { type: 'string' }, 'group-by': { type: 'string' }, model: { type: 'string' }, upstream: { type: 'string' }, speed: { type: 'string' },
} as const

/** Commands of one word. */
const SINGLE = new Set(['spend', 'usage', 'cost', 'claude-code'])

export async function runAdmin (argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (s) => { process.stdout.write(s) }): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS)
  if (values.help === true || positionals.length === 0) { out(HELP); return values.help === true ? 0 : EXIT.usage }
  const [group, verb, ...rest] = positionals
  const single = SINGLE.has(group ?? '')
  const cmd = single ? group as string : `${group ?? ''} ${verb ?? ''}`
  const run: Record<string, (t: AdminTarget) => Promise<void>> = {
    'caps list': async (t) => { await capsList(t, values, out) },
    'caps set': async (t) => { await capsSet(t, values, out) },
    'caps rm': async (t) => { await capsRm(t, values, rest, out) },
    'caps show': async (t) => { await capsShow(t, values, out) },
    'sessions rm': async (t) => { await sessionsRm(t, values, out) },
    spend: async (t) => { await spend(t, values, out) },
    usage: async (t) => { await usageReport(t, values, out) },
    cost: async (t) => { await costReport(t, values, out) },
    'claude-code': async (t) => { await claudeCodeReport(t, values, out) },
  }
  const fn = run[cmd]
  if (fn === undefined) throw new UsageError(`unknown admin command '${positionals.join(' ')}' (caps list|set|rm|show, sessions rm, spend, usage, cost, claude-code)`)
  if (cmd !== 'caps rm' && (single ? positionals.length > 1 : rest.length > 0)) throw new UsageError(`unexpected argument '${(single ? positionals[1] : rest[0]) as string}'`)
  try {
    await fn(target(str(values.url), env))
    return 0
  } catch (err) {
    if (err instanceof AdminFailure) { process.stderr.write(`weir admin: ${err.message}\n`); return err.exitCode }
    throw err
  }
}
