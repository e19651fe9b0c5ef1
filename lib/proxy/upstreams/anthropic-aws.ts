/**
 * `provider: anthropicAws` — Claude Platform on AWS: the Anthropic Messages API itself, served
 * from `https://aws-external-anthropic.<region>.api.aws` (or `base_url`) and billed through AWS.
 *
 * On the wire: `POST /v1/messages` and `/v1/messages/count_tokens` with the client's body, query,
 * betas and SSE reply unchanged (first-party model ids), plus `anthropic-workspace-id:
 * <workspace_id>` on every request. Auth: `x-api-key: <api_key>`, else SigV4 (service
 * `aws-external-anthropic`) with the configured keys or the AWS default credential chain. The
 * SDK's `ANTHROPIC_AWS_API_KEY` environment variable is deliberately not read: only gateway.yaml
 * chooses the key.
 */
import type { AnthropicAwsUpstream } from '../../config/schema.js'
import { rewriteBody } from '../json-scan.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { awsAuth, then } from './aws-auth.js'
import { unsignedExtras } from './bedrock.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

/** The Messages API path for a call under `prefix`, query string kept. */
export function messagesPath (prefix: string, call: UpstreamCall): string {
  return prefix + (call.endpoint === 'count_tokens' ? '/v1/messages/count_tokens' : '/v1/messages') + (call.query === '' ? '' : `?${call.query}`)
}

/** The body with the model id and/or tags changed as the call asks (the bytes unchanged otherwise). */
export function passBody (call: UpstreamCall, stripTags = call.stripTags): Buffer {
  return call.rewriteModel || stripTags
    ? rewriteBody(call.body, call.scan, { model: call.rewriteModel ? call.model : undefined, stripTags })
    : call.body
}

export function anthropicAwsUpstream (cfg: AnthropicAwsUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  const base = new URL(cfg.base_url ?? `https://aws-external-anthropic.${cfg.region}.api.aws`)
  const prefix = basePath(base)
  const auth = awsAuth({ name: cfg.name, region: cfg.region, service: 'aws-external-anthropic', auth: cfg.auth, env: o.env })
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, { onAuthFailure: auth.invalidate })
  const extra = cfg.headers ?? {}

  function prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const path = messagesPath(prefix, call)
    const body = passBody(call)
    const signed: Record<string, string> = { ...extra, 'anthropic-workspace-id': cfg.workspace_id, 'content-type': call.headers['content-type'] ?? 'application/json' }
    for (const k of ['accept', 'anthropic-version', 'anthropic-beta']) if (call.headers[k] !== undefined) signed[k] = call.headers[k] as string
    return then(auth.headers({ origin: base.origin, path, headers: signed, body }, call.principal), (h) => ({
      origin: base.origin,
      path,
      headers: { ...h, ...unsignedExtras(call.headers) },
      body,
    }))
  }

  return cloudUpstream(cfg.name, 'anthropicAws', dispatcher, prepare, { invalidateCredentials: auth.invalidate })
}
