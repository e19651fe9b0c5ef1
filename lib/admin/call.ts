/**
 * The admin API's call and reply as they cross from an HTTP worker to the primary over IPC: a
 * request the worker has already authenticated, and a status with a JSON value or an error
 * message. Types only, so every admin module can name them without importing the service.
 */
/**
 * One admin request, as the worker forwards it. `base` names the resource (the spend-limits API,
 * Weir's `principals` and `spend_report` extensions, or the usage and cost reports, lib/reports/); `path` is what follows its prefix ('' or '/…').
 */
export interface AdminCall {
  readonly base?: 'spend_limits' | 'principals' | 'spend_report' | 'usage_report' | 'cost_report' | 'console'
  readonly method: string
  readonly path: string
  readonly query: string
  readonly body: string | null
  readonly actor: string
  readonly canWrite: boolean
}

export type AdminReply =
  | { readonly status: 200, readonly json: unknown }
  | { readonly status: 400 | 403 | 404, readonly message: string }
