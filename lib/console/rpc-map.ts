/**
 * The console's RPC (lib/ipc.ts map): one of the console's own read-only queries (overview,
 * people, audit, upstream figures), run in the primary. Handler: lib/console/module.ts; caller:
 * lib/console/api.ts, after the browser session and its role were checked.
 */
import { object } from 'superstruct'
import type { AdminReply } from '../admin/call.js'
import { rpc } from '../ipc.js'
import { text } from '../rpc-args.js'

export const CONSOLE_RPC = {
  'console.query': rpc<AdminReply>()(object({ path: text, query: text })),
} as const

type ConsoleRpc = typeof CONSOLE_RPC
declare module '../ipc.js' { interface RpcMap extends ConsoleRpc {} } // eslint-disable-line @typescript-eslint/no-empty-interface
