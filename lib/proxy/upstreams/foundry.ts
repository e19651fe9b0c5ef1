/**
 * `provider: foundry` — Claude in Microsoft Foundry.
 *
 * On the wire: `POST https://<resource>.services.ai.azure.com/anthropic/v1/messages` (and
 * `…/v1/messages/count_tokens`), or the same paths under `base_url` (sovereign clouds, private
 * endpoints); the Messages API unchanged — body, betas, query string and SSE reply pass through.
 * The model id is the Foundry deployment name (map it under `models:`; the built-in catalog uses
 * the default deployment names). Auth: `x-api-key: <api_key>`, or with `use_azure_ad` an Entra ID
 * token for the Cognitive Services scope as `Authorization: Bearer` (azure.ts).
 */
import type { FoundryUpstream } from '../../config/schema.js'
import { azureBearer } from '../../cloud/azure.js'
import type { BearerSource } from '../../cloud/bearer.js'
import { rewriteBody } from '../json-scan.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { then } from './aws-auth.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

export function foundryUpstream (cfg: FoundryUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  const base = new URL(cfg.base_url ?? `https://${cfg.resource.toLowerCase()}.services.ai.azure.com/anthropic/`)
  const prefix = basePath(base)
  const key = 'api_key' in cfg.auth ? cfg.auth.api_key : undefined
  const bearer: BearerSource | null = key === undefined ? azureBearer(`upstream ${cfg.name}`, o.env) : null
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, bearer === null ? {} : { onAuthFailure: () => { bearer.invalidate() } })
  const extra = cfg.headers ?? {}

  function prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const path = prefix + (call.endpoint === 'count_tokens' ? '/v1/messages/count_tokens' : '/v1/messages') + (call.query === '' ? '' : `?${call.query}`)
    const body = call.rewriteModel || call.stripTags
      ? rewriteBody(call.body, call.scan, { model: call.rewriteModel ? call.model : undefined, stripTags: call.stripTags })
      : call.body
    const headers = { ...call.headers, ...extra }
    if (bearer === null) return { origin: base.origin, path, headers: { ...headers, 'x-api-key': key as string }, body }
    const withToken = (t: string): Outgoing => ({ origin: base.origin, path, headers: { ...headers, authorization: `Bearer ${t}` }, body })
    const t = bearer.peek()
    return t !== null ? withToken(t) : then(bearer.get(), withToken)
  }

  return cloudUpstream(cfg.name, 'foundry', dispatcher, prepare, bearer !== null ? { invalidateCredentials: () => { bearer.invalidate() } } : {})
}
