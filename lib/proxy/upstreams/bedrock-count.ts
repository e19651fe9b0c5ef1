/**
 * count_tokens on a bedrock upstream, through Bedrock's CountTokens.
 *
 * CountTokens takes a foundation-model id (`anthropic.claude-…`), never an inference profile or a
 * provisioned/application profile ARN: a geo profile (`us.anthropic.…`, or its ARN) is counted on
 * its foundation model; anything else cannot be counted here. The request is
 * `{"input":{"invokeModel":{"body":"<base64 invoke body>"}}}` where the invoke body is the client's
 * count body made valid for InvokeModel: no `model`, `stream` or `tags`, Bedrock's
 * `anthropic_version`, a `max_tokens` above any thinking budget, no empty `tools`, and of the betas
 * only those Bedrock accepts on a count (`claude-code-20250219`, `context-management-2025-06-27`).
 * The answer `{"inputTokens":N}` becomes `{"input_tokens":N}`.
 *
 * When CountTokens fails (no `bedrock:CountTokens` permission, a model AWS does not count, a proxy
 * that does not pass the path…) the request is refused with not_supported so the hot path fails
 * over, and that model is not tried again for ten minutes; the reason goes to the operator log once.
 * A model that has counted before only loses the one request to a 400/413/429.
 */
import { GatewayError } from '../../errors.js'
import { ops } from '../../log.js'
import { excerpt } from '../../cloud/http.js'
import type { SenderHooks } from './sender.js'
import type { UpstreamCall } from './types.js'

export const BEDROCK_VERSION = 'bedrock-2023-05-31'
export const COUNT_REFUSAL = 'count_tokens is not available on this Bedrock upstream'
export const COUNT_BETAS: ReadonlySet<string> = new Set(['claude-code-20250219', 'context-management-2025-06-27'])
const COOLDOWN_MS = 10 * 60_000
const GEO = /^(?:us|eu|apac|global|jp|au|ca|us-gov)\./

/** The foundation-model id CountTokens needs for `model`, or null when there is none. */
export function foundationId (model: string): string | null {
  let m = model
  const arn = /^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:([\w-]+)\/(.+)$/.exec(m)
  if (arn !== null) {
    if (arn[1] !== 'foundation-model' && arn[1] !== 'inference-profile') return null
    m = arn[2] as string
  }
  m = m.replace(GEO, '')
  return /^anthropic\.[\w.:-]+$/.test(m) ? m : null
}

/** The invoke body CountTokens counts, from the client's count_tokens body. */
export function countBody (body: Buffer, headerBetas: string | undefined): Buffer {
  const j = JSON.parse(body.toString('utf8')) as Record<string, unknown>
  delete j.model
  delete j.stream
  delete j.tags
  j.anthropic_version ??= BEDROCK_VERSION
  const thinking = j.thinking as { budget_tokens?: unknown } | undefined
  const budget = typeof thinking?.budget_tokens === 'number' ? thinking.budget_tokens : 0
  if (typeof j.max_tokens !== 'number' || j.max_tokens <= budget) j.max_tokens = budget + 1
  if (Array.isArray(j.tools) && j.tools.length === 0) delete j.tools
  const betas: string[] = []
  const want = (v: unknown): void => { if (typeof v === 'string' && COUNT_BETAS.has(v.trim()) && !betas.includes(v.trim())) betas.push(v.trim()) }
  for (const b of (headerBetas ?? '').split(',')) want(b)
  if (Array.isArray(j.anthropic_beta)) for (const b of j.anthropic_beta) want(b)
  if (betas.length > 0) j.anthropic_beta = betas
  else delete j.anthropic_beta
  const inner = Buffer.from(JSON.stringify(j)).toString('base64')
  return Buffer.from(`{"input":{"invokeModel":{"body":"${inner}"}}}`)
}

export class BedrockCounter {
  private readonly cooldown = new Map<string, number>()
  private readonly worked = new Set<string>()
  readonly hooks: NonNullable<SenderHooks['count']>

  constructor (private readonly upstream: string) {
    this.hooks = {
      matches: (path) => path.endsWith('/count-tokens'),
      reshape: (body) => {
        try {
          const j = JSON.parse(body.toString('utf8')) as { inputTokens?: unknown }
          return typeof j.inputTokens === 'number' ? Buffer.from(JSON.stringify({ input_tokens: j.inputTokens })) : null
        } catch { return null }
      },
      outcome: (path, status, body) => { this.outcome(path, status, body) },
      refusal: COUNT_REFUSAL,
    }
  }

  /** The CountTokens path and body for this call; throws GW_NOT_SUPPORTED when it cannot be counted here. */
  request (call: UpstreamCall, model: string): { path: string, body: Buffer } {
    const id = foundationId(model)
    if (id === null) throw new GatewayError('GW_NOT_SUPPORTED', COUNT_REFUSAL, { detail: `${model} is not a foundation model or geo inference profile` })
    if (Date.now() < (this.cooldown.get(id) ?? 0)) throw new GatewayError('GW_NOT_SUPPORTED', COUNT_REFUSAL, { detail: `CountTokens failed recently for ${id}` })
    let body: Buffer
    try { body = countBody(call.body, call.headers['anthropic-beta']) } catch {
      throw new GatewayError('GW_NOT_SUPPORTED', COUNT_REFUSAL, { detail: 'the count body is not JSON' })
    }
    return { path: `/model/${encodeURIComponent(id)}/count-tokens`, body }
  }

  private outcome (path: string, status: number | null, body: Buffer | null): void {
    const m = /\/model\/([^/]+)\/count-tokens$/.exec(path)
    const id = m === null ? '?' : decodeURIComponent(m[1] as string)
    if (status === null) {
      this.worked.add(id)
      if (this.cooldown.delete(id)) ops.info(`upstream ${this.upstream}: AWS CountTokens works again for ${id}`)
      return
    }
    const text = body === null ? '' : excerpt(body.toString('utf8'), 500)
    if (this.worked.has(id) && (status === 400 || status === 413 || status === 429)) {
      ops.debug(`upstream ${this.upstream}: AWS CountTokens failed for ${id} for one request (HTTP ${status}: ${text})`)
      return
    }
    const hint = status === 403
      ? ' Check that the identity signing this upstream\'s Bedrock calls has bedrock:CountTokens.'
      : status === 404 ? ' Check that base_url passes /model/{id}/count-tokens.' : ''
    const again = this.cooldown.has(id)
    this.cooldown.set(id, Date.now() + COOLDOWN_MS)
    this.worked.delete(id)
    const line = `upstream ${this.upstream}: AWS CountTokens failed for ${id} (${status === 0 ? 'the answer had no inputTokens' : `HTTP ${status}: ${text}`}). ` +
      `Model requests are not affected. For ten minutes count_tokens for this model goes to the next upstream, or is answered 501 so Claude Code counts another way.${hint}`
    if (again) ops.debug(line)
    else ops.warn(line)
  }
}
