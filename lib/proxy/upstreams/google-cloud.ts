/**
 * `provider: anthropicGoogleCloud` — Claude Platform on Google Cloud: the Anthropic Messages API
 * itself, behind a Google front door at
 * `https://claude.googleapis.com/v1/projects/<project>/locations/<location>/workspaces/<workspace>/invoke`
 * (or `base_url`).
 *
 * On the wire: `POST <that>/v1/messages` (and `…/count_tokens`) with the client's body, betas,
 * query and SSE reply unchanged (first-party model ids); the workspace is in the path, so no
 * workspace header. Auth is a Google access token as `Authorization: Bearer` — `auth.access_token`,
 * the key file at `auth.service_account_json`, or Application Default Credentials (google.ts).
 */
import type { AnthropicGoogleCloudUpstream } from '../../config/schema.js'
import { googleBearer } from '../../cloud/google.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { messagesPath, passBody } from './anthropic-aws.js'
import { then } from './aws-auth.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

export function googleCloudUpstream (cfg: AnthropicGoogleCloudUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  const base = new URL(cfg.base_url ?? `https://claude.googleapis.com/v1/projects/${cfg.project_id}/locations/${cfg.location}/workspaces/${cfg.workspace_id}/invoke`)
  const prefix = basePath(base)
  const bearer = googleBearer(cfg.auth, `upstream ${cfg.name}`, cfg.project_id)
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, { onAuthFailure: () => { bearer.invalidate() } })
  const extra: Record<string, string> = {}
  for (const [k, v] of Object.entries(cfg.headers ?? {})) if (k.toLowerCase() !== 'authorization') extra[k] = v

  function prepare (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const path = messagesPath(prefix, call)
    const body = passBody(call)
    const headers = { ...call.headers, ...extra }
    const withToken = (t: string): Outgoing => ({ origin: base.origin, path, headers: { ...headers, authorization: `Bearer ${t}` }, body })
    const t = bearer.peek()
    return t !== null ? withToken(t) : then(bearer.get(), withToken)
  }

  return cloudUpstream(cfg.name, 'anthropicGoogleCloud', dispatcher, prepare, { invalidateCredentials: () => { bearer.invalidate() } })
}
