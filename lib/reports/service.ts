/**
 * The report endpoints' primary-side entry: `/v1/organizations/usage_report/messages`,
 * `/v1/organizations/usage_report/claude_code` and `/v1/organizations/cost_report`, reached through the admin API's credentials and IPC
 * (lib/admin/routes.ts authenticates; lib/admin/service.ts hands the call here). Reports only
 * read, so read-only admin keys may call them; anything but GET on a known path is a 404.
 */
import type { Sql } from '../store/db.js'
import type { AdminCall, AdminReply } from '../admin/call.js'
import { claudeCodeUsage } from './claude-code.js'
import { costReport } from './cost.js'
import { messagesUsage } from './messages.js'

export const USAGE_REPORT_PREFIX = '/v1/organizations/usage_report'
export const COST_REPORT_PREFIX = '/v1/organizations/cost_report'

export async function handleReport (sql: Sql, call: AdminCall): Promise<AdminReply> {
  const q = new URLSearchParams(call.query)
  if (call.method === 'GET' && call.base === 'usage_report' && call.path === '/messages') return await messagesUsage(sql, q)
  if (call.method === 'GET' && call.base === 'usage_report' && call.path === '/claude_code') return await claudeCodeUsage(sql, q)
  if (call.method === 'GET' && call.base === 'cost_report' && call.path === '') return await costReport(sql, q)
  return { error: 'GW_NOT_FOUND', message: 'not found' }
}
