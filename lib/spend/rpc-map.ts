/**
 * Spend control's RPCs (lib/ipc.ts map): lease statements, lease returns, cap reads and the usage
 * view. Handlers: lib/spend/module.ts (primary); callers: lib/spend/link.ts, lib/admin/routes.ts.
 */
import { array, enums, object, tuple } from 'superstruct'
import { rpc } from '../ipc.js'
import { finite, flag, optional, text } from '../rpc-args.js'
import type { LeaseReply } from './budget.js'
import type { CapRow } from './caps.js'
import type { LeaseDelta, Seen } from '../metering/charges.js'

export interface CapsMessage { readonly version: number, readonly rows: CapRow[] }

const kind = enums(['u', 'g'] as const)
/** A `LeaseDelta`: kind, subject, bucket, holder, epoch, micro-cents. */
const delta = tuple([kind, text, text, text, text, finite])

export const SPEND_RPC_MAP = {
  'spend.lease': rpc<LeaseReply>()(object({
    kind, subject: text, bucket: text, holder: text, epoch: text, limitId: text, amount: text,
    want: finite, need: finite, partialOk: flag, ttlMs: finite,
  })),
  'spend.release': rpc<null>()(object({ list: array(delta) })),
  'spend.caps': rpc<CapsMessage>()(object({ reload: optional(flag) })),
  'spend.usageFor': rpc<unknown>()(object({ sub: text, groups: array(text) })),
} as const

type SpendRpc = typeof SPEND_RPC_MAP
declare module '../ipc.js' {
  interface RpcMap extends SpendRpc {} // eslint-disable-line @typescript-eslint/no-empty-interface
  /** Names as in lib/spend/link.ts: CAPS_EVENT, IDENTITY_EVENT, EXIT_EVENT. */
  interface EventMap {
    'spend.caps': CapsMessage
    'spend.identity': Seen
    'spend.exit': { list: LeaseDelta[] }
  }
}
