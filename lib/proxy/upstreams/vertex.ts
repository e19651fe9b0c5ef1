/**
 * `provider: vertex` — Claude on Google Cloud Vertex AI (Agent Platform).
 *
 * On the wire, under `https://<region>-aiplatform.googleapis.com/v1` (`global` →
 * `https://aiplatform.googleapis.com/v1`, the multi-regions `us`/`eu` →
 * `https://aiplatform.<us|eu>.rep.googleapis.com/v1`, or `base_url`):
 *   - messages: `POST /projects/<project>/locations/<region>/publishers/anthropic/models/<model>:streamRawPredict`
 *     when the body says `"stream": true`, else `:rawPredict`; `<model>` is Vertex's id, `@`-versioned
 *     for older models (`claude-sonnet-4-5@20250929`);
 *   - count_tokens: `…/publishers/anthropic/models/count-tokens:rawPredict`, the model staying in the body;
 *   - the body loses `model` (messages only) and `tags`, and gains `anthropic_version: "vertex-2023-10-16"`
 *     unless the client set one; `anthropic-beta` stays a header (minus `request-tags-*`);
 *   - `Authorization: Bearer <Google access token>` (google.ts); the reply is Anthropic SSE or JSON and
 *     passes through.
 * Error bodies (which name the project) are rewritten by failover.ts; the request-size 400 becomes
 * the sentence Claude Code recovers from.
 */
import type { VertexUpstream } from '../../config/schema.js'
import { googleBearer } from '../../cloud/google.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { then } from './aws-auth.js'
import { members, rebuild, withoutTagsBeta } from './body-edit.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

export const VERTEX_VERSION = 'vertex-2023-10-16'

/** The API root for a Vertex region (before `/projects/…`). */
export function vertexBase (region: string): string {
  switch (region) {
    case 'global': return 'https://aiplatform.googleapis.com/v1'
    case 'us':
    case 'eu': return `https://aiplatform.${region}.rep.googleapis.com/v1`
    default: return `https://${region}-aiplatform.googleapis.com/v1`
  }
}

/** Headers every cloud upstream forwards from the client: its betas (minus request-tags), version, UA, SDK telemetry. */
export function forwardedFor (h: Readonly<Record<string, string>>, keepTagsBeta: boolean): Record<string, string> {
  const out: Record<string, string> = { ...h }
  const beta = keepTagsBeta ? h['anthropic-beta'] : withoutTagsBeta(h['anthropic-beta'])
  if (beta === undefined) delete out['anthropic-beta']
  else out['anthropic-beta'] = beta
  return out
}

const seg = (v: string): string => /^[\w.@-]+$/.test(v) ? v : encodeURIComponent(v)

export function vertexUpstream (cfg: VertexUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  if (!/^[a-z0-9-]+$/.test(cfg.region) && cfg.base_url === undefined) throw new Error(`upstream ${cfg.name}: region ${JSON.stringify(cfg.region)} is not a Google Cloud region`)
  const base = new URL(cfg.base_url ?? vertexBase(cfg.region))
  const root = `${basePath(base)}/projects/${seg(cfg.project_id)}/locations/${seg(cfg.region)}/publishers/anthropic/models/`
  const bearer = googleBearer(cfg.auth, `upstream ${cfg.name}`, cfg.project_id)
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, { onAuthFailure: () => { bearer.invalidate() } })
  const extra = cfg.headers ?? {}

  function prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const ms = members(call.body)
    const count = call.endpoint === 'count_tokens'
    const add: Array<[string, string]> = ms.some((m) => m.key === 'anthropic_version') ? [] : [['anthropic_version', JSON.stringify(VERTEX_VERSION)]]
    const replace = count && call.rewriteModel ? new Map([['model', JSON.stringify(call.model)]]) : undefined
    const body = rebuild(call.body, ms, { drop: count ? COUNT_DROP : DROP, add, replace })
    const path = root + (count ? 'count-tokens:rawPredict' : `${seg(call.model)}:${call.scan.stream === true ? 'streamRawPredict' : 'rawPredict'}`)
    const headers = { ...forwardedFor(call.headers, false), ...extra }
    const withToken = (t: string): Outgoing => ({ origin: base.origin, path, headers: { ...headers, authorization: `Bearer ${t}` }, body })
    const t = bearer.peek()
    return t !== null ? withToken(t) : then(bearer.get(), withToken)
  }

  return cloudUpstream(cfg.name, 'vertex', dispatcher, prepare, { invalidateCredentials: () => { bearer.invalidate() } })
}

const DROP = new Set(['model', 'tags'])
const COUNT_DROP = new Set(['tags'])
