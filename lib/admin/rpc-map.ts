/**
 * The admin API's RPC (lib/ipc.ts map): one authenticated admin request, run in the primary.
 * Handler: lib/admin/module.ts; caller: lib/admin/routes.ts.
 */
import { enums, nullable, object } from 'superstruct'
import { rpc } from '../ipc.js'
import { flag, optional, text } from '../rpc-args.js'
import type { AdminReply } from './call.js'

export const ADMIN_RPC = {
  'admin.call': rpc<AdminReply>()(object({
    base: optional(enums(['spend_limits', 'principals', 'spend_report', 'usage_report', 'cost_report'] as const)),
    method: text, path: text, query: text, body: nullable(text), actor: text, canWrite: flag,
  })),
} as const

type AdminRpc = typeof ADMIN_RPC
declare module '../ipc.js' { interface RpcMap extends AdminRpc {} } // eslint-disable-line @typescript-eslint/no-empty-interface
