/**
 * Sign-in's RPCs (lib/ipc.ts map). Handlers: lib/session/primary.ts (primary); callers:
 * lib/session/client.ts and lib/admin/principals.ts (workers).
 */
import { object } from 'superstruct'
import { rpc } from '../ipc.js'
import type { Revocation } from './sessions.js'
import { list, nonEmpty, optional, positive, text } from '../rpc-args.js'

/** Primary → workers: revocations the workers have not seen yet (all of them to a worker that joins). */
export const REVOKED_EVENT = 'session.revoked' as const

const kvWrite = { key: nonEmpty, value: nonEmpty, ttlSeconds: positive }

export const SESSION_RPC = {
  'session.kvAdd': rpc<boolean>()(object(kvWrite)),
  'session.kvSwap': rpc<boolean>()(object({ ...kvWrite, expect: nonEmpty })),
  'session.recordPrincipal': rpc<null>()(object({ sub: nonEmpty, email: optional(text), name: optional(text), groups: optional(list(text)) })),
  /** One token (`id`, `exp`) or a subject's tokens issued before `before` (`sub`, `before`, `exp`). */
  'session.revoke': rpc<string | null>()(object({ id: optional(nonEmpty), sub: optional(text), before: optional(positive), exp: positive })),
  'session.signOutSubject': rpc<{ families: number, not_before: number }>()(object({ sub: nonEmpty })),
  'session.revokeRefresh': rpc<string | null>()(object({ hash: nonEmpty, ttlSeconds: positive })),
  'session.refreshRevoked': rpc<boolean>()(object({ hash: nonEmpty })),
  'session.refreshStanding': rpc<{ revoked: boolean, family: string | null }>()(object({ hashes: list(nonEmpty, 1, 4) })),
  'session.link': rpc<null>()(object({ family: nonEmpty, sub: optional(text), tokenId: nonEmpty, tokenTtl: positive, refreshHash: optional(text) })),
} as const

type SessionRpc = typeof SESSION_RPC
declare module '../ipc.js' {
  interface RpcMap extends SessionRpc {} // eslint-disable-line @typescript-eslint/no-empty-interface
  interface EventMap { [REVOKED_EVENT]: Revocation[] }
}
