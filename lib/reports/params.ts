/**
 * Query parameters of the report endpoints, spelled as Anthropic's Admin API spells them, and
 * the opaque page cursor.
 *
 *   starting_at   RFC 3339 timestamp (required; any offset); snapped down to its bucket's start in UTC
 *   ending_at     RFC 3339 timestamp (default: now); snapped up to a bucket boundary, so the
 *                 bucket it falls in is the last one returned. Must be after starting_at.
 *   bucket_width  1d | 1h | 1m (default 1d)
 *                 Minute buckets reach back MINUTE_DETAIL_DAYS (31) days, the minute detail kept.
 *   limit         buckets per page: 1d default 7, at most 31; 1h default 24, at most 168;
 *                 1m default 60, at most 1440
 *   page          the `next_page` of the previous answer
 *   group_by[]    and the array filters: `name[]=a&name[]=b` or `name=a&name=b`
 *
 * Invariants: every problem is one 400 message `<param>: <what is wrong>`; nothing is guessed
 * (an unknown parameter is refused by name, so a typo never silently widens a report); a page
 * token is only accepted exactly as Weir wrote it (`page_` + base64url of the next bucket's
 * start), aligned to the bucket width and inside the requested range.
 */
import { MINUTE_DETAIL_DAYS } from '../store/sweeps.js'

export type Width = '1d' | '1h' | '1m'

export const WIDTH_MS: Record<Width, number> = { '1d': 86_400_000, '1h': 3_600_000, '1m': 60_000 }
const LIMITS: Record<Width, { def: number, max: number }> = { '1d': { def: 7, max: 31 }, '1h': { def: 24, max: 168 }, '1m': { def: 60, max: 1440 } }

/** A parsed request: bucket starts `from` (this page's first) up to `end` (exclusive), ms. */
export interface Range {
  readonly width: Width
  readonly widthMs: number
  /** First bucket of this page. */
  readonly from: number
  /** End of this page's last bucket (exclusive). */
  readonly to: number
  /** End of the whole requested range (exclusive). */
  readonly end: number
  readonly groupBy: readonly string[]
  /** Array filters by name (without `[]`). */
  readonly filters: ReadonlyMap<string, readonly string[]>
}

export class BadParam extends Error {}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/** Milliseconds of an RFC 3339 timestamp, or a BadParam naming `name`. */
export function parseTime (name: string, v: string): number {
  const m = RFC3339.exec(v)
  const ms = m === null ? Number.NaN : Date.parse(v.toUpperCase())
  if (m === null || !Number.isFinite(ms) || Number(m[2]) > 12 || Number(m[3]) > 31 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) {
    throw new BadParam(`${name}: must be an RFC 3339 timestamp such as 2025-01-01T00:00:00Z`)
  }
  return ms
}

/** RFC 3339 in UTC without fractional seconds, as the Admin API writes bucket edges. */
export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

export function pageToken (startMs: number): string {
  return `page_${Buffer.from(iso(startMs)).toString('base64url')}`
}

function readPage (v: string): number {
  const bad = new BadParam('page: invalid page token')
  if (!/^page_[A-Za-z0-9_-]{1,64}$/.test(v)) throw bad
  const text = Buffer.from(v.slice(5), 'base64url').toString('utf8')
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text)) throw bad
  const ms = Date.parse(text)
  if (!Number.isFinite(ms) || iso(ms) !== text || pageToken(ms) !== v) throw bad
  return ms
}

/** Values of an array parameter (`name[]` and `name` both count). */
function many (q: URLSearchParams, name: string): string[] {
  return [...q.getAll(`${name}[]`), ...q.getAll(name)]
}

export interface ParamSpec {
  /** group_by values this report accepts. */
  readonly groupBy: readonly string[]
  /** Array filters this report accepts (names without `[]`). */
  readonly filters: readonly string[]
  /** Widths this report accepts. */
  readonly widths: readonly Width[]
  /** The values a filter accepts, where Anthropic's API enumerates them. */
  readonly values?: Readonly<Record<string, readonly string[]>>
}

/**
 * Filters of Anthropic's API that Weir has nothing to filter on: refused by name with the reason,
 * never ignored (a dashboard would show an unfiltered report as filtered).
 */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  api_key_ids: 'Weir has no API keys (every result has api_key_id null); filter by account_ids[] or user_emails[]',
  workspace_ids: 'Weir has no workspaces (every result has workspace_id null)',
  service_account_ids: 'Weir has no service accounts (every result has service_account_id null)',
}

/** Parse and check `q` for a report described by `spec`; `now` in ms. Throws BadParam. */
export function parseRange (q: URLSearchParams, spec: ParamSpec, now: number): Range {
  const known = new Set(['starting_at', 'ending_at', 'bucket_width', 'limit', 'page', 'group_by', ...spec.filters])
  for (const k of q.keys()) {
    const base = k.endsWith('[]') ? k.slice(0, -2) : k
    if (!known.has(base) && UNSUPPORTED[base] !== undefined) throw new BadParam(`${k}: not supported: ${UNSUPPORTED[base]}`)
    if (!known.has(base)) throw new BadParam(`${k}: unknown query parameter`)
  }
  for (const single of ['starting_at', 'ending_at', 'bucket_width', 'limit', 'page']) {
    if (q.getAll(single).length > 1) throw new BadParam(`${single}: given more than once`)
  }
  const w = q.get('bucket_width') ?? '1d'
  if (!(spec.widths as readonly string[]).includes(w)) throw new BadParam(`bucket_width: must be one of ${spec.widths.join(', ')}`)
  const width = w as Width
  const widthMs = WIDTH_MS[width]
  const startText = q.get('starting_at')
  if (startText === null || startText === '') throw new BadParam('starting_at: Required')
  const start = Math.floor(parseTime('starting_at', startText) / widthMs) * widthMs
  const endText = q.get('ending_at')
  const endRaw = endText === null ? now : parseTime('ending_at', endText)
  if (endText !== null && endRaw <= parseTime('starting_at', startText)) throw new BadParam('ending_at: must be after starting_at')
  const end = Math.max(start, Math.ceil(endRaw / widthMs) * widthMs)
  if (width === '1m' && start < now - MINUTE_DETAIL_DAYS * 86_400_000) throw new BadParam(`starting_at: minute buckets (bucket_width 1m) reach back ${MINUTE_DETAIL_DAYS} days; use 1h or 1d for older usage`)
  const lim = LIMITS[width]
  const limitText = q.get('limit')
  let limit = lim.def
  if (limitText !== null) {
    if (!/^\d{1,5}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > lim.max) throw new BadParam(`limit: must be an integer between 1 and ${lim.max} for bucket_width ${width}`)
    limit = Number(limitText)
  }
  const pageText = q.get('page')
  let from = start
  if (pageText !== null) {
    from = readPage(pageText)
    if (from <= start || from >= end || (from - start) % widthMs !== 0) throw new BadParam('page: invalid page token')
  }
  const groupBy = many(q, 'group_by')
  for (const g of groupBy) {
    if (!spec.groupBy.includes(g)) throw new BadParam(`group_by[]: '${g}' is not one of ${spec.groupBy.join(', ')}`)
  }
  if (new Set(groupBy).size !== groupBy.length) throw new BadParam('group_by[]: a value is given twice')
  const filters = new Map<string, string[]>()
  for (const f of spec.filters) {
    const vals = many(q, f)
    if (vals.length === 0) continue
    if (vals.some((x) => x === '' || x.length > 512)) throw new BadParam(`${f}[]: values must be non-empty and at most 512 characters`)
    if (vals.length > 1000) throw new BadParam(`${f}[]: at most 1000 values`)
    const allowed = spec.values?.[f]
    const wrong = allowed === undefined ? undefined : vals.find((x) => !allowed.includes(x))
    if (allowed !== undefined && wrong !== undefined) throw new BadParam(`${f}[]: '${wrong.slice(0, 64)}' is not one of ${allowed.join(', ')}`)
    filters.set(f, vals)
  }
  return { width, widthMs, from, to: Math.min(end, from + limit * widthMs), end, groupBy, filters }
}
