/**
 * The route table: which subsystem answers which path. Each subsystem registers its own routes;
 * this file only decides the order they are wired in.
 */
import type { Services } from '../services.js'
import type { WorkerContext } from '../worker-context.js'
import { registerOpsRoutes } from './ops-routes.js'
import { Router } from './router.js'

export function buildRouter (ctx: WorkerContext, svc: Services): Router {
  const router = new Router()
  registerOpsRoutes(router, ctx)
  void svc
  return router
}
