/**
 * The route table: which subsystem answers which path. Each subsystem registers its own routes;
 * this file only decides the order they are wired in.
 */
import { registerSpendRoutes } from '../admin/routes.js'
import { registerConsoleRoutes } from '../console/routes.js'
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { registerInferenceRoutes } from '../proxy/routes.js'
import { registerManagedRoutes } from './managed-routes.js'
import { registerOpsRoutes } from './ops-routes.js'
import { registerSignInRoutes } from './oauth-routes.js'
import { Router } from './router.js'
import { registerTelemetryRoutes } from './telemetry-routes.js'

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
