/**
 * The route table: which subsystem answers which path. Each subsystem registers its own routes;
 * this file only decides the order they are wired in.
 */
import { registerSpendRoutes } from '../lib/admin/routes.js'
import { registerConsoleRoutes } from '../lib/console/routes.js'
import type { Services } from '../lib/services.js'
import type { WorkerContext } from '../lib/worker-context.js'
import { registerInferenceRoutes } from '../lib/proxy/routes.js'
import { registerManagedRoutes } from '../lib/policy/routes.js'
import { registerOpsRoutes } from '../lib/ops/routes.js'
import { registerSignInRoutes } from '../lib/auth/routes.js'
import { Router } from '../lib/http/router.js'
import { registerTelemetryRoutes } from '../lib/telemetry/routes.js'

export function buildRouter (ctx: WorkerContext, svc: Services): Router {
  const router = new Router()
  registerOpsRoutes(router, ctx)
  registerSignInRoutes(router, ctx, svc)
  registerTelemetryRoutes(router, ctx, svc)
  registerInferenceRoutes(router, ctx, svc)
  registerManagedRoutes(router, ctx, svc)
  registerSpendRoutes(router, ctx, svc)
  registerConsoleRoutes(router, ctx, svc)
  return router
}
