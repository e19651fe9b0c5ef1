/**
 * The admin API's primary module (workers/primary-modules.ts): registers `admin.call`, which runs
 * one admin request that an HTTP worker has authenticated (lib/admin/routes.ts) against Postgres
 * (lib/admin/service.ts). The effective-limits view resolves caps with the same live cap table
 * enforcement uses, so the module takes spend's (lib/spend/module.ts `caps`) and starts only when
 * spend did (an `admin:` block). Nothing to stop: it holds no timers or connections of its own.
 */
import { registerRpc } from '../ipc.js'
import type { CapBook, PoolRules } from '../spend/caps.js'
import type { Sql } from '../store/db.js'
import { ADMIN_RPC } from './rpc-map.js'
import { handleAdmin } from './service.js'

/** The live cap table and the pooled-cap rules, as the spend module keeps them. */
export interface CapView {
  readonly book: () => CapBook
  readonly rules: PoolRules
}

export function startAdmin (ctx: { sql: Sql }, caps: CapView | undefined): undefined {
  if (caps === undefined) return undefined
  const deps = { sql: ctx.sql, book: caps.book, rules: caps.rules }
  registerRpc(ADMIN_RPC, { 'admin.call': async (a) => await handleAdmin(deps, a) })
  return undefined
}
