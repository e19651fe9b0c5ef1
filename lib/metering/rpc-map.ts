/**
 * Metering's event (lib/ipc.ts `EventMap`), worker → primary: one batch of usage records and
 * lease charges (USAGE_EVENT, sent by lib/metering/outbox.ts with its row buffer transferred,
 * written by the Meter that lib/spend/module.ts runs). Metering has no RPCs.
 */
import type { UsageBatch } from './records.js'

declare module '../ipc.js' {
  /** Name as in lib/metering/outbox.ts (USAGE_EVENT). */
  interface EventMap { 'spend.usage': UsageBatch }
}
