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
 * grouped by description, as Anthropic's); Weir's dimensions appear only when grouped by. The
 * answer is written as JSON text (lib/reports/json.ts), never an object per result.
 */
import type { Sql } from '../store/db.js'
import type { AdminReply } from '../admin/call.js'
import { MESSAGES_SPEC } from './messages.js'
import { centsFromMicro } from './money.js'
import { bucketPage, file, jstr } from './json.js'
import { BadParam, parseRange, type ParamSpec } from './params.js'
import { sumValues } from './query.js'

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
  const rows = await sumValues(sql, r, dims, COLUMNS)
  const s = dims.length + 1
  // Weir's dimensions, last in every result: row[1…ext.length] in group_by order.
  const extText = (row: ReadonlyArray<string | null>): string => {
    let out = ''
    for (let i = 0; i < ext.length; i++) out += `,"${ext[i] as string}":${jstr(row[i + 1])}`
    return out
  }
  const results = new Map<number, string[]>()
  for (const row of rows) {
    const b = Number(row[0]) * 1000
    if (!described) {
      let total = 0n
      for (let i = 0; i < COLUMNS.length; i++) total += BigInt(row[s + i] ?? '0')
      file(results, b, `{"amount":${jstr(centsFromMicro(total))},"currency":"USD","cost_type":null,"description":null,"model":null,"service_tier":null,"token_type":null,"context_window":null,"inference_geo":null,"workspace_id":null${extText(row)}}`)
      continue
    }
    const model = row[ext.length + 1] ?? null
    const window = row[ext.length + 2] ?? null
    const long = window === '200k-1M' ? ' (Long Context)' : ''
    const tail = `,"inference_geo":null,"workspace_id":null${extText(row)}}`
    for (let k = 0; k < KINDS.length; k++) {
      const [, costType, tokenType, what] = KINDS[k] as typeof KINDS[number]
      const micro = BigInt(row[s + k] ?? '0')
      if (micro === 0n) continue
      const tokens = costType === 'tokens'
      const description = tokens ? `${model ?? 'unknown model'} Usage - ${what}${long}` : `${model ?? 'unknown model'} - ${what}`
      file(results, b, `{"amount":${jstr(centsFromMicro(micro))},"currency":"USD","cost_type":${jstr(costType)},"description":${jstr(description)},` +
        `"model":${tokens ? jstr(model) : 'null'},"service_tier":${tokens ? '"standard"' : 'null'},"token_type":${jstr(tokenType)},"context_window":${tokens ? jstr(window) : 'null'}${tail}`)
    }
  }
  return { json: bucketPage(r, results) }
}
