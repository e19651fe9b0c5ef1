/**
 * `GET /v1/organizations/cost_report` in the shape of Anthropic's Admin API, from the exact
 * ledger (`usage_minutes`, whose cost columns add up to the `spend` ledger to the micro-cent).
 *
 *   group_by[]  description (one result per model, context window and cost kind: uncached input,
 *               output, cache read, 5-minute and 1-hour cache writes as `cost_type: "tokens"`
 *               with their `token_type`, and web search as `cost_type: "web_search"`),
 *               workspace_id (accepted; always null, Weir has no workspaces); Weir's extensions
 *               account_id, speed, user_email, idp_group, upstream (as in the messages report)
 *   filters     none in Anthropic's API; Weir accepts the messages report's (models[], …)
 *   bucket_width  1d as in Anthropic's API; Weir also accepts 1h and 1m
 *
 * `amount` is cents as an exact decimal string (micro-cent precision), `currency` "USD". Results
 * of zero cost are left out when grouped by description; otherwise each group with usage in a
 * bucket has one result with its total. A result always has amount, currency, cost_type,
 * description, model, service_tier, token_type, context_window, inference_geo (always null: the
 * cost report cannot group by it) and workspace_id (null unless
 * grouped by description, as Anthropic's); Weir's dimensions appear only when grouped by.
 */
import type { Sql } from '../store/db.js'
import type { AdminReply } from '../admin/call.js'
import { MESSAGES_SPEC } from './messages.js'
import { centsFromMicro } from './money.js'
import { BadParam, iso, pageToken, parseRange, type ParamSpec } from './params.js'
import { byBucket, sumUsage, type SumRow } from './query.js'

const EXTENSIONS = ['account_id', 'speed', 'user_email', 'idp_group', 'upstream']

export const COST_SPEC: ParamSpec = {
  groupBy: ['description', 'workspace_id', ...EXTENSIONS],
  filters: MESSAGES_SPEC.filters,
  widths: ['1d', '1h', '1m'],
  values: MESSAGES_SPEC.values,
}

/** Cost kinds in output order: ledger column, cost_type, token_type, description suffix. */
const KINDS: ReadonlyArray<readonly [string, 'tokens' | 'web_search', string | null, string]> = [
  ['input_micro_cents', 'tokens', 'uncached_input_tokens', 'Input Tokens'],
  ['output_micro_cents', 'tokens', 'output_tokens', 'Output Tokens'],
  ['cache_read_micro_cents', 'tokens', 'cache_read_input_tokens', 'Input Tokens, Cache Read'],
  ['cache_write_5m_micro_cents', 'tokens', 'cache_creation.ephemeral_5m_input_tokens', 'Input Tokens, Cache Write (5 minutes)'],
  ['cache_write_1h_micro_cents', 'tokens', 'cache_creation.ephemeral_1h_input_tokens', 'Input Tokens, Cache Write (1 hour)'],
  ['web_search_micro_cents', 'web_search', null, 'Web Search'],
]
const COLUMNS = KINDS.map((k) => k[0])

export async function costReport (sql: Sql, q: URLSearchParams, now = Date.now()): Promise<AdminReply> {
  let r
  try { r = parseRange(q, COST_SPEC, now) } catch (err) {
    if (err instanceof BadParam) return { error: 'GW_BAD_REQUEST', message: err.message }
    throw err
  }
  const described = r.groupBy.includes('description')
  const ext = r.groupBy.filter((d) => EXTENSIONS.includes(d))
  const dims = described ? [...ext, 'model', 'context_window'] : ext
  const rows = await sumUsage(sql, r, dims, COLUMNS)
  const extFields = (row: SumRow): Record<string, string | null> => Object.fromEntries(ext.map((d) => [d, row.dims[d] ?? null]))
  const base = { currency: 'USD', cost_type: null, description: null, model: null, service_tier: null, token_type: null, context_window: null, inference_geo: null, workspace_id: null }
  const shape = (row: SumRow): object[] => {
    if (!described) {
      const total = COLUMNS.reduce((a, c) => a + BigInt(row.sums[c] ?? '0'), 0n)
      return [{ amount: centsFromMicro(total), ...base, ...extFields(row) }]
    }
    const out: object[] = []
    for (const [col, costType, tokenType, what] of KINDS) {
      const micro = BigInt(row.sums[col] ?? '0')
      if (micro === 0n) continue
      const model = row.dims.model ?? null
      const tokens = costType === 'tokens'
      const long = row.dims.context_window === '200k-1M' ? ' (Long Context)' : ''
      out.push({
        amount: centsFromMicro(micro),
        currency: 'USD',
        cost_type: costType,
        description: tokens ? `${model ?? 'unknown model'} Usage - ${what}${long}` : `${model ?? 'unknown model'} - ${what}`,
        model: tokens ? model : null,
        service_tier: tokens ? 'standard' : null,
        token_type: tokenType,
        context_window: tokens ? row.dims.context_window ?? null : null,
        inference_geo: null,
        workspace_id: null,
        ...extFields(row),
      })
    }
    return out
  }
  const data = byBucket(r, rows, shape).map((b) => ({ starting_at: iso(b.start), ending_at: iso(b.start + r.widthMs), results: b.results }))
  const more = r.to < r.end
  return { json: { data, has_more: more, next_page: more ? pageToken(r.to) : null } }
}
