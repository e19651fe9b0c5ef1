/**
 * `provider: mantle` — Claude through Amazon Bedrock's Mantle endpoint, which serves the
 * Anthropic Messages API itself at `https://bedrock-mantle.<region>.api.aws/anthropic` (or
 * `base_url`).
 *
 * On the wire: `POST /anthropic/v1/messages` (and `…/count_tokens`) with the Messages API body and
 * SSE reply, Mantle's model ids (`anthropic.claude-opus-4-7`; the entry's `models` list says which
 * client models go here), SigV4 with service `bedrock-mantle` (configured keys, the AWS default
 * chain, or an `assume_role` session) or a Bedrock API key as a bearer. Like Bedrock, Mantle refuses
 * the body's `tags` and the `request-tags-*` beta, so both are always removed; other betas stay in
 * the header. No guardrail is applied on Mantle (the config refuses one beside a guarded bedrock).
 */
import type { MantleUpstream } from '../../config/schema.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { messagesPath, passBody } from './anthropic-aws.js'
import { awsAuth, then } from './aws-auth.js'
import { unsignedExtras } from './bedrock.js'
import { withoutTagsBeta } from './body-edit.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

export function mantleUpstream (cfg: MantleUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  const base = new URL(cfg.base_url ?? `https://bedrock-mantle.${cfg.region}.api.aws/anthropic`)
  const prefix = basePath(base)
  const auth = awsAuth({ name: cfg.name, region: cfg.region, service: 'bedrock-mantle', auth: cfg.auth, assumeRole: cfg.assume_role, env: o.env })
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, { onAuthFailure: auth.invalidate })
  const extra = cfg.headers ?? {}

  function prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const path = messagesPath(prefix, call)
    const body = passBody(call, call.scan.tags !== null)
    const signed: Record<string, string> = { ...extra, 'content-type': call.headers['content-type'] ?? 'application/json' }
    for (const k of ['accept', 'anthropic-version']) if (call.headers[k] !== undefined) signed[k] = call.headers[k] as string
    const beta = withoutTagsBeta(call.headers['anthropic-beta'])
    if (beta !== undefined) signed['anthropic-beta'] = beta
    const principal = call.endpoint === 'count_tokens' ? null : call.principal
    return then(auth.headers({ origin: base.origin, path, headers: signed, body }, principal), (h) => ({
      origin: base.origin,
      path,
      headers: { ...h, ...unsignedExtras(call.headers) },
      body,
    }))
  }

  return cloudUpstream(cfg.name, 'mantle', dispatcher, prepare, { invalidateCredentials: auth.invalidate })
}
