/** Building `UpstreamCall`s and upstream configs for the provider unit tests. */
import { scanRequest } from '../../../lib/proxy/json-scan.js'
import type { Endpoint, Outgoing, UpstreamCall } from '../../../lib/proxy/upstreams/types.js'
import type { Principal } from '../../../lib/session/token.js'

export const ALICE: Principal = { sub: 'u-alice', email: 'alice@example.com', name: 'Alice', groups: ['eng'], iat: 0, exp: 0 }

export interface CallOptions {
  endpoint?: Endpoint
  headers?: Record<string, string>
  model?: string
  stripTags?: boolean
  query?: string
  principal?: Principal
}

export function makeCall (body: unknown, o: CallOptions = {}): UpstreamCall {
  const buf = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
  const scan = scanRequest(buf)
  const model = o.model ?? (typeof scan.model === 'string' ? scan.model : '')
  return {
    endpoint: o.endpoint ?? 'messages',
    query: o.query ?? '',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'user-agent': 'claude-cli/2.1.328 weir/0.1.0', 'accept-encoding': 'identity', ...o.headers },
    body: buf,
    scan,
    model,
    rewriteModel: model !== scan.model,
    stripTags: o.stripTags ?? false,
    principal: o.principal ?? ALICE,
  }
}

/** Await a prepare result that may or may not be a promise. */
export async function out (v: Outgoing | Promise<Outgoing>): Promise<Outgoing> { return await v }

/** The Outgoing as a request a fake would see (for verifySigV4). */
export function asRequest (o: Outgoing, method = 'POST'): { method: string, url: string, headers: Record<string, string>, body: Buffer } {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(o.headers)) headers[k.toLowerCase()] = v
  headers.host ??= new URL(o.origin).host
  return { method, url: o.path, headers, body: Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body) }
}

export const POOL = { ttfbMs: 5_000, env: { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' } as NodeJS.ProcessEnv }
