/**
 * HTTP helpers for tests: `raw` speaks HTTP/1.1 over a plain socket (for framing cases a normal
 * client refuses to produce, like a body without Content-Length), `req` is a thin undici request.
 */
import { connect } from 'node:net'
import { request } from 'undici'

export interface RawResponse { status: number, headers: Record<string, string>, body: string, raw: string }

/** Send `head` (request line + headers, without the final blank line) and `body`; read until close. */
export async function raw (port: number, head: string, body = ''): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1')
    let data = ''
    sock.setEncoding('latin1')
    sock.on('data', (d: string) => { data += d })
    sock.on('error', reject)
    sock.on('close', () => {
      const [h = '', ...rest] = data.split('\r\n\r\n')
      const lines = h.split('\r\n')
      const status = Number(lines[0]?.split(' ')[1])
      const headers: Record<string, string> = {}
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim() }
      resolve({ status, headers, body: rest.join('\r\n\r\n'), raw: data })
    })
    sock.write(head.replace(/\r?\n/g, '\r\n') + '\r\nConnection: close\r\n\r\n' + body)
  })
}

export interface Res { status: number, headers: Record<string, string>, text: string, json: () => any } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One request; the whole body is read as text. */
export async function req (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string | Buffer } = {}): Promise<Res> {
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body })
  const text = await r.body.text()
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v)
  return { status: r.statusCode, headers, text, json: () => JSON.parse(text) }
}
