/**
 * The names and typed wrappers of spend control's messages between HTTP workers and the primary
 * (lib/ipc.ts). Workers never touch Postgres: lease statements, lease returns and cap reads are
 * RPCs the primary runs on its pool (lib/spend/module.ts).
 */
import { callPrimary, sendToPrimary } from '../ipc.js'
import type { LeaseReply } from './budget.js'
import type { CapsMessage } from './rpc-map.js'
import { PRECHECK_DEADLINE_MS, type LeaseArgs } from './store.js'
import type { LeaseDelta } from '../metering/charges.js'

export type { CapsMessage } from './rpc-map.js'

/** The RPC names (declared with their argument structs in lib/spend/rpc-map.ts). */
export const SPEND_RPC = Object.freeze({
  lease: 'spend.lease',
  release: 'spend.release',
  caps: 'spend.caps',
  usage: 'spend.usageFor',
} as const)

/** Primary → workers: the whole cap table, after every change. */
export const CAPS_EVENT = 'spend.caps' as const
/** Worker → primary: last-seen identity of a principal (throttled). */
export const IDENTITY_EVENT = 'spend.identity' as const
/** Worker → primary at thread exit: unused leases to return. */
export const EXIT_EVENT = 'spend.exit' as const

/** What a worker's accounting needs from the primary; tests substitute their own. */
export interface SpendLink {
  lease (a: LeaseArgs): Promise<LeaseReply>
  /** Fire and forget. */
  release (list: LeaseDelta[]): void
  /** The primary's cap table; `reload` makes it re-read Postgres first (after a stale lease). */
  caps (reload?: boolean): Promise<CapsMessage>
  identity (seen: { sub: string, email: string | null, name: string | null, groups: string[] }): void
  /** Sent synchronously from the thread's exit hook. */
  exit (list: LeaseDelta[]): void
}

export const primaryLink: SpendLink = {
  lease: async (a) => await callPrimary(SPEND_RPC.lease, a, PRECHECK_DEADLINE_MS + 200),
  release: (list) => { if (list.length > 0) callPrimary(SPEND_RPC.release, { list }).catch(() => undefined) },
  caps: async (reload = false) => await callPrimary(SPEND_RPC.caps, { reload }),
  identity: (seen) => { sendToPrimary(IDENTITY_EVENT, seen) },
  exit: (list) => { if (list.length > 0) sendToPrimary(EXIT_EVENT, { list }) },
}
