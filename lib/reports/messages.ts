/**
 * `GET /v1/organizations/usage_report/messages` in the shape of Anthropic's Admin API, from
 * Weir's own ledger (`usage_minutes`), so dashboards written for that API work for fleets on any
 * upstream.
 *
 *   group_by[]  model, context_window, account_id (the developer's IdP subject), speed ("fast" for
 *               requests the upstream reported in fast mode, else "standard"); Weir's extensions
 *               user_email, idp_group (each group the developer was last seen in) and upstream (the
 *               configured upstream that served the request); and api_key_id, workspace_id,
 *               service_account_id, service_tier and inference_geo, which Weir accepts with their
 *               one value (null, null, null, "standard", "not_available": Weir has no API keys,
 *               workspaces or service accounts)
 *   filters     models[], context_window[], account_ids[], speeds[], service_tiers[] and
 *               inference_geos[] (Weir's one value matches everything, any other nothing); Weir's
 *               user_emails[] (any case), idp_groups[], upstreams[]. Enumerated values are checked.
 *               api_key_ids[], workspace_ids[], service_account_ids[] are refused with the reason.
 *
 * Every bucket of the page appears, with `results: []` when nothing was used. A result always has
 * the token fields and the eight dimension fields Anthropic documents (ALWAYS; null unless
 * grouped by); Weir's dimensions and `speed` appear only when grouped by. `model` is the
 * model the client asked for. Tokens: `uncached_input_tokens` is the request's `input_tokens`;
 * cache writes split by TTL. The answer is written as JSON text (lib/reports/json.ts), one
 * string per result, never an object per result.
 */
import type { Sql } from '../store/db.js'
import type { AdminReply } from '../admin/call.js'
import { bucketPage, file, jstr, jsum } from './json.js'
import { BadParam, parseRange, type ParamSpec } from './params.js'
import { sumValues } from './query.js'

const CONSTANT: Record<string, string | null> = { api_key_id: null, workspace_id: null, service_account_id: null, service_tier: 'standard', inference_geo: 'not_available' }
/** The dimension fields every result has, as Anthropic documents them (null unless grouped by). */
const ALWAYS = ['account_id', 'api_key_id', 'workspace_id', 'model', 'service_tier', 'context_window', 'inference_geo', 'service_account_id'] as const

export const MESSAGES_SPEC: ParamSpec = {
  groupBy: ['model', 'context_window', 'account_id', 'speed', 'user_email', 'idp_group', 'upstream', 'api_key_id', 'workspace_id', 'service_tier', 'inference_geo', 'service_account_id'],
  filters: ['models', 'context_window', 'account_ids', 'speeds', 'service_tiers', 'inference_geos', 'user_emails', 'idp_groups', 'upstreams'],
  widths: ['1d', '1h', '1m'],
  values: {
    context_window: ['0-200k', '200k-1M'],
    speeds: ['standard', 'fast'],
    service_tiers: ['standard', 'batch', 'priority', 'priority_on_demand', 'flex', 'flex_discount'],
    inference_geos: ['global', 'us', 'not_available'],
  },
}

const COLUMNS = ['input_tokens', 'cache_write_1h_tokens', 'cache_write_5m_tokens', 'cache_read_tokens', 'output_tokens', 'web_search_requests']

/**
 * The dimension fields of a result in output order (ALWAYS, then the other group_by values in
 * their order), each as a function of the query row (`dims` are the queried dimensions, read from
 * row[1…]) giving the JSON text of the value. Built once per request.
 */
export function dimensionWriters (groupBy: readonly string[], dims: readonly string[]): Array<[string, (row: ReadonlyArray<string | null>) => string]> {
  const value = (d: string): (row: ReadonlyArray<string | null>) => string => {
    if (!groupBy.includes(d)) return () => 'null'
    if (d in CONSTANT) { const v = jstr(CONSTANT[d]); return () => v }
    const at = dims.indexOf(d) + 1
    return (row) => jstr(row[at])
  }
  const order = [...ALWAYS, ...groupBy.filter((d) => !(ALWAYS as readonly string[]).includes(d))]
  return order.map((d) => [d, value(d)])
}

export async function messagesUsage (sql: Sql, q: URLSearchParams, now = Date.now()): Promise<AdminReply> {
  let r
  try { r = parseRange(q, MESSAGES_SPEC, now) } catch (err) {
    if (err instanceof BadParam) return { error: 'GW_BAD_REQUEST', message: err.message }
    throw err
  }
  const dims = r.groupBy.filter((d) => !(d in CONSTANT))
  const rows = await sumValues(sql, r, dims, COLUMNS)
  const fields = dimensionWriters(r.groupBy, dims)
  const s = dims.length + 1
  const results = new Map<number, string[]>()
  for (const row of rows) {
    let text = `{"uncached_input_tokens":${jsum(row[s])},"cache_creation":{"ephemeral_1h_input_tokens":${jsum(row[s + 1])},"ephemeral_5m_input_tokens":${jsum(row[s + 2])}},` +
      `"cache_read_input_tokens":${jsum(row[s + 3])},"output_tokens":${jsum(row[s + 4])},"server_tool_use":{"web_search_requests":${jsum(row[s + 5])}}`
    for (const [name, write] of fields) text += `,"${name}":${write(row)}`
    file(results, Number(row[0]) * 1000, text + '}')
  }
  return { json: bucketPage(r, results) }
}
