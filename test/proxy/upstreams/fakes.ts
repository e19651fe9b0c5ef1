/**
 * Test doubles that speak the cloud providers' real wire formats:
 *
 *   - `verifySigV4`: an independent SigV4 verifier (node:crypto, not aws4) — canonical request
 *     with twice-encoded path segments, signed headers, payload hash, the HMAC key chain — so a
 *     fake Bedrock / STS / Claude-Platform-on-AWS endpoint rejects anything a real one would;
 *   - `bedrockFrames`: Anthropic stream events as Bedrock's AWS event-stream messages, encoded
 *     with the AWS SDK's codec (prelude and message CRCs), plus exception messages, split points
 *     and corruption for the decoder's failure paths;
 *   - small HTTP servers for credential endpoints (STS, IMDS, ECS, Entra ID, the Google metadata
 *     server, Anthropic's token exchange), recording each request.
 */
import { createHash, createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { fromUtf8, toUtf8 } from '@smithy/util-utf8'
import type { Answer, Recorded } from '../../helpers/fake-upstream.js'

export const AKID = 'AKIDEXAMPLE'
export const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'

const codec = new EventStreamCodec(toUtf8, fromUtf8)
const str = (value: string): { type: 'string', value: string } => ({ type: 'string', value })

/** One `chunk` event carrying an Anthropic event's exact JSON text. */
export function chunkFrame (json: string, pad = 'abcdefghij'): Buffer {
  const body = fromUtf8(JSON.stringify({ bytes: Buffer.from(json, 'utf8').toString('base64'), p: pad }))
  return Buffer.from(codec.encode({ headers: { ':message-type': str('event'), ':event-type': str('chunk'), ':content-type': str('application/json') }, body }))
}

/** An exception message, as Bedrock sends when a stream fails. */
export function exceptionFrame (type: string, message: string): Buffer {
  const body = fromUtf8(JSON.stringify({ message }))
  return Buffer.from(codec.encode({ headers: { ':message-type': str('exception'), ':exception-type': str(type), ':content-type': str('application/json') }, body }))
}

/** The events of an SSE text (data lines' JSON), skipping `ping`s, which Bedrock never sends. */
export function eventsOf (sse: string): Array<{ type: string, json: string }> {
  const out: Array<{ type: string, json: string }> = []
  for (const block of sse.split('\n\n')) {
    const ev = /^event: (.*)$/m.exec(block)?.[1]
    const data = /^data: (.*)$/m.exec(block)?.[1]
    if (ev === undefined || data === undefined || ev === 'ping') continue
    out.push({ type: ev, json: data })
  }
  return out
}

/** SSE text for events, as the gateway should re-emit them. */
export function sseOf (events: Array<{ type: string, json: string }>): string {
  return events.map((e) => `event: ${e.type}\ndata: ${e.json}\n\n`).join('')
}

export function bedrockFrames (events: Array<{ type: string, json: string }>): Buffer[] {
  return events.map((e) => chunkFrame(e.json))
}

/** Concatenate frames and cut the bytes at every `step` (or at the given offsets). */
export function resplit (frames: Buffer[], step: number | number[]): Buffer[] {
  const all = Buffer.concat(frames)
  const cuts = typeof step === 'number' ? Array.from({ length: Math.ceil(all.length / step) - 1 }, (_v, i) => (i + 1) * step) : step
  const out: Buffer[] = []
  let at = 0
  for (const c of [...cuts, all.length]) { if (c > at) out.push(all.subarray(at, c)); at = c }
  return out
}

/** A small, complete reply as Anthropic event JSON. */
export function replyEvents (text = 'hello from bedrock', model = 'claude-x'): Array<{ type: string, json: string }> {
  const e = (type: string, v: unknown): { type: string, json: string } => ({ type, json: JSON.stringify(v) })
  return [
    e('message_start', { type: 'message_start', message: { id: 'msg_bdrk_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 21, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 } } }),
    e('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    e('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    e('content_block_stop', { type: 'content_block_stop', index: 0 }),
    e('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } }),
    e('message_stop', { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 21, outputTokenCount: 6, invocationLatency: 412, firstByteLatency: 201 } }),
  ]
}

// ---- SigV4 ---------------------------------------------------------------------------------------

const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')
const hmac = (k: Buffer | string, s: string): Buffer => createHmac('sha256', k).update(s).digest()

export interface SigV4Expect {
  readonly accessKeyId?: string
  readonly secret?: string
  readonly region: string
  readonly service: string
  readonly sessionToken?: string
}

/** Null when the request carries a valid SigV4 signature for `x`, else why not. */
export function verifySigV4 (r: { method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Buffer }, x: SigV4Expect): string | null {
  const auth = String(r.headers.authorization ?? '')
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth)
  if (m === null) return `malformed authorization: ${auth}`
  const [, akid, day, region, service, signed, signature] = m as unknown as string[]
  if (akid !== (x.accessKeyId ?? AKID)) return `access key ${akid as string}`
  if (region !== x.region) return `region ${region as string}`
  if (service !== x.service) return `service ${service as string}`
  const amzDate = String(r.headers['x-amz-date'] ?? '')
  if (!amzDate.startsWith(day as string)) return 'x-amz-date does not match the credential scope'
  if (x.sessionToken !== undefined && r.headers['x-amz-security-token'] !== x.sessionToken) return 'session token missing or wrong'
  const names = (signed as string).split(';')
  for (const need of ['host', 'x-amz-date']) if (!names.includes(need)) return `${need} is not signed`
  const [rawPath = '/', rawQuery = ''] = r.url.split('?')
  const path = rawPath.split('/').map((seg) => rfc3986(seg)).join('/')
  const query = rawQuery === '' ? '' : rawQuery.split('&').map((kv) => kv.split('=').map((p) => rfc3986(decodeURIComponent(p))).join('=')).sort().join('&')
  const headers = names.map((n) => `${n}:${String(r.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('')
  const canonical = [r.method, path, query, headers, signed, sha256(r.body)].join('\n')
  const scope = `${day as string}/${region as string}/${service as string}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
  const key = hmac(hmac(hmac(hmac('AWS4' + (x.secret ?? SECRET), day as string), region as string), service as string), 'aws4_request')
  return hmac(key, toSign).toString('hex') === signature ? null : 'signature mismatch'
}

// ---- small servers -------------------------------------------------------------------------------

export interface Seen { method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Buffer }
export interface TinyServer { url: string, seen: Seen[], close: () => Promise<void> }

/** An HTTP server answering with `handle`; every request is recorded. */
export async function tinyServer (handle: (s: Seen, res: ServerResponse) => void): Promise<TinyServer> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) }
      seen.push(s)
      handle(s, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** An STS `…Result` answer with credentials valid for `ttlMs`. */
export function stsXml (action: 'AssumeRole' | 'AssumeRoleWithWebIdentity', id: string, ttlMs = 3600_000): string {
  const exp = new Date(Date.now() + ttlMs).toISOString()
  return `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result><Credentials>` +
    `<AccessKeyId>${id}</AccessKeyId><SecretAccessKey>secret-${id}</SecretAccessKey><SessionToken>token-${id}</SessionToken>` +
    `<Expiration>${exp}</Expiration></Credentials></${action}Result></${action}Response>`
}

/** Query-string form body → object. */
export function form (b: Buffer): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(b.toString('utf8')))
}

/** Recorded request → the shape verifySigV4 takes. */
export const asSigned = (r: Recorded): { method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Buffer } => r

// ---- a Bedrock runtime fake, as a fake-upstream script ------------------------------------------


export interface BedrockScript {
  /** Events of a streamed reply (default `replyEvents()`). */
  events?: Array<{ type: string, json: string }>
  /** Cut the event-stream bytes every `split` bytes, one write each (default 13). */
  split?: number
  delayMs?: number
  gate?: Promise<void>
  gateAfter?: number
  /** Flip a byte inside message number `corrupt` (0-based). */
  corrupt?: number
  /** Replace message number `exception.at` with an exception message. */
  exception?: { at: number, type: string }
  /** count-tokens answer: a number, or an HTTP status to fail with. */
  count?: number | { status: number }
  region?: string
  /** Answer non-stream invokes with this JSON (default: a message). */
  json?: unknown
}

/** A fake Bedrock runtime: checks SigV4 and answers invoke, invoke-with-response-stream and count-tokens like AWS. */
export function bedrockScript (o: BedrockScript = {}): (r: Recorded) => Answer {
  return (r): Answer => {
    const why = verifySigV4(r, { region: o.region ?? 'us-east-1', service: 'bedrock' })
    if (why !== null) {
      return { kind: 'json', status: 403, body: { message: `The request signature we calculated does not match the signature you provided (${why}). arn:aws:iam::123456789012:user/gw` }, headers: { 'x-amzn-errortype': 'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/' } }
    }
    const m = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|count-tokens)$/.exec(r.url)
    if (m === null) return { kind: 'json', status: 404, body: { message: 'Not Found' } }
    if (m[2] === 'count-tokens') {
      const c = o.count ?? 17
      if (typeof c === 'number') return { kind: 'json', status: 200, body: { inputTokens: c } }
      return { kind: 'json', status: c.status, body: { message: 'User: arn:aws:sts::123456789012:assumed-role/gw/x is not authorized to perform: bedrock:CountTokens' } }
    }
    if (m[2] === 'invoke') {
      return { kind: 'json', status: 200, body: o.json ?? { id: 'msg_bdrk_json', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'json from bedrock' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 9, output_tokens: 4 } } }
    }
    const frames = bedrockFrames(o.events ?? replyEvents())
    if (o.exception !== undefined) frames[o.exception.at] = exceptionFrame(o.exception.type, 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/x: model stream failed')
    if (o.corrupt !== undefined) {
      const f = Buffer.from(frames[o.corrupt] as Buffer)
      f[f.length - 8] = (f[f.length - 8] as number) ^ 0xff
      frames[o.corrupt] = f
    }
    return {
      kind: 'sse',
      frames: o.split === 0 ? frames : resplit(frames, o.split ?? 13),
      delayMs: o.delayMs ?? 0,
      ...(o.gate !== undefined ? { gate: o.gate, gateAfter: o.gateAfter ?? 1 } : {}),
      headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'a1b2c3', 'x-amzn-bedrock-content-type': 'application/json' },
    }
  }
}
