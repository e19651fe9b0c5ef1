/**
 * Wires the inference endpoints into the route table.
 */
import type { Router } from '../http/router.js'
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { handleMessages, type MessagesDeps } from './messages.js'

export function registerInferenceRoutes (router: Router, ctx: WorkerContext, svc: Services): void {
  const deps: MessagesDeps = {
    upstreams: svc.upstreams,
    models: svc.models,
    get policy () { return svc.modelPolicy },
    get accounting () { return svc.accounting },
    authenticate: (rq) => svc.sessions.authenticate(rq),
    cri: svc.cri,
    maxBodyBytes: ctx.config.limits.max_request_bytes,
    billingGroupTag: ctx.config.admin?.billing_group_tag,
    loadTest: ctx.config.load_test_mode?.enabled === true,
    pools: svc.pools,
    upstreamGroups: ctx.config.upstreams.map((u) => 'groups' in u && u.groups !== undefined ? new Set(u.groups) : null),
  }
  router.on('POST', '/v1/messages', (res, rq) => handleMessages(res, rq, 'messages', deps))
  router.on('POST', '/v1/messages/count_tokens', (res, rq) => handleMessages(res, rq, 'count_tokens', deps))
}
