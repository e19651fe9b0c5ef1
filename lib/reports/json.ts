/**
 * The report answers written as JSON text directly, without building an object per result: a page
 * of 5,000 developers is a million bytes, and building, copying to the HTTP worker (a structured
 * clone) and stringifying that many objects cost more than the query (bench/reports.ts). The
 * primary hands the text to the worker as one string, which lib/http/respond.ts sendJson sends as is.
 *
 * Invariant: the text is exactly what JSON.stringify gives for the same value — the same keys in
 * the same order, numbers as JSON.stringify writes them (non-finite as null), strings escaped by
 * JSON.stringify itself — so it parses to the object the API documents, field for field
 * (test/reports/page-json.test.ts compares the two byte for byte).
 */
import { iso, pageToken, type Range } from './params.js'

/** A JSON string literal, or null. */
export const jstr = (s: string | null | undefined): string => (s === null || s === undefined ? 'null' : JSON.stringify(s))

/** A number as JSON.stringify writes it (NaN and infinities as null). */
export const jnum = (n: number): string => (Number.isFinite(n) ? String(n) : 'null')

/** The decimal text of a SQL sum as a JSON number, through a double as the object form did. */
export const jsum = (text: string | null | undefined): string => jnum(Number(text ?? '0'))

/**
 * The bucketed page `{"data":[{"starting_at","ending_at","results":[…]}…],"has_more","next_page"}`
 * for `r`: every bucket of the page in order, each with the result texts filed under its start.
 */
export function bucketPage (r: Range, results: ReadonlyMap<number, readonly string[]>): string {
  const parts: string[] = []
  for (let s = r.from; s < r.to; s += r.widthMs) {
    const rs = results.get(s)
    parts.push(`{"starting_at":"${iso(s)}","ending_at":"${iso(s + r.widthMs)}","results":[${rs === undefined ? '' : rs.join(',')}]}`)
  }
  const more = r.to < r.end
  return `{"data":[${parts.join(',')}],"has_more":${String(more)},"next_page":${more ? jstr(pageToken(r.to)) : 'null'}}`
}

/** Append `text` to the results of bucket `b` in `into`. */
export function file (into: Map<number, string[]>, b: number, text: string): void {
  const list = into.get(b)
  if (list === undefined) into.set(b, [text])
  else list.push(text)
}
