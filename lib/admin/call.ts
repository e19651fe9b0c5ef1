/**
 * The admin API's call and reply as they cross from an HTTP worker to the primary over IPC: a
 * request the worker has already authenticated, and a JSON value or a refusal carrying its error
 * registry code (lib/errors.ts), which the worker renders as is. Types only, so every admin module
 * can name them without importing the service.
 */
import type { GatewayErrorCode } from '../errors.js'

/**
 * One admin request, as the worker forwards it. `base` names the resource (the spend-limits API,
 * Weir's `principals` and `spend_report` extensions, or the usage and cost reports, lib/reports/); `path` is what follows its prefix ('' or '/…').
 */
export interface AdminCall {
  readonly base?: 'spend_limits' | 'principals' | 'spend_report' | 'usage_report' | 'cost_report'
  readonly method: string
  readonly path: string
  readonly query: string
  readonly body: string | null
  readonly actor: string
  readonly canWrite: boolean
}

/** The refusals the primary answers with (credentials and store failures are the worker's). */
export type AdminErrorCode = Extract<GatewayErrorCode, 'GW_BAD_REQUEST' | 'GW_FORBIDDEN' | 'GW_NOT_FOUND'>

export type AdminReply =
  | { readonly json: unknown }
  | { readonly error: AdminErrorCode, readonly message: string }
