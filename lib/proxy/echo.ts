/**
 * Client input that goes back to the client inside an error message (a model id, a header name).
 *
 * Such text is quoted, bounded and escaped, so a hostile value can neither make an error message
 * large nor smuggle control characters, quotes or look-alike text into a client's terminal or an
 * operator's log: at most `max` characters of the input are kept (an ellipsis marks the cut), `"`
 * and `\` are backslash-escaped, and anything outside printable ASCII is written as `\u{…}`.
 */

/** Most characters of client input echoed in one message. */
export const ECHO_MAX = 64

/** `s` as it may appear inside an error message: quoted, bounded, escaped. */
export function echo (s: string, max = ECHO_MAX): string {
  let out = '"'
  let n = 0
  for (const ch of s) {
    if (n++ === max) return out + '…"'
    const c = ch.codePointAt(0) as number
    if (ch === '"' || ch === '\\') out += '\\' + ch
    else if (c >= 0x20 && c < 0x7f) out += ch
    else out += `\\u{${c.toString(16)}}`
  }
  return out + '"'
}
