/**
 * `provider: bedrock` — Amazon Bedrock runtime, InvokeModel and InvokeModelWithResponseStream.
 *
 * On the wire (`https://bedrock-runtime.<region>.amazonaws.com`, or `base_url`):
 *   - `POST /model/<id>/invoke-with-response-stream` when the body says `"stream": true`, else
 *     `/model/<id>/invoke`; `<id>` is a model id, an inference profile id or an ARN, percent-encoded;
 *   - the body loses `model`, `stream` and `tags`, gains `anthropic_version: "bedrock-2023-05-31"`
 *     (unless the client set one), and the `anthropic-beta` header's values move into the body's
 *     `anthropic_beta` array (merged with any already there, deduplicated; `request-tags-*` dropped);
 *   - SigV4 (service `bedrock`) or a Bedrock API key as a bearer; guardrail headers when configured
 *     (and input tagging, guardrail.ts; a `guardrail_trace` goes to the operator log, not the client);
 *   - the streamed reply is AWS event-stream, re-emitted as Anthropic SSE (eventstream.ts); the
 *     plain JSON reply passes through.
 * count_tokens goes to CountTokens (`POST /model/<foundation id>/count-tokens` with the invoke body
 * base64-encoded, see bedrock-count.ts); when that cannot work it is refused so the hot path fails
 * over, and answers 501 when no upstream can count.
 */
import type { BedrockUpstream } from '../../config/schema.js'
import { GatewayError } from '../../errors.js'
import { ops } from '../../log.js'
import { lookupModel } from '../catalog.js'
import { basePath, upstreamDispatcher, type PoolOptions } from './anthropic.js'
import { awsAuth, then } from './aws-auth.js'
import { betaList, members, rebuild, TAGS_BETA, valueOf, type Member } from './body-edit.js'
import { BEDROCK_VERSION, BedrockCounter } from './bedrock-count.js'
import { EVENTSTREAM_TYPE, EventStreamDecoder, loadEventStream } from './eventstream.js'
import { GUARD_CONFIG_KEY, stripTrace, tagInput } from './guardrail.js'
import { CloudSender, cloudUpstream } from './sender.js'
import type { Outgoing, Upstream, UpstreamCall } from './types.js'

export { BEDROCK_VERSION }

/** Headers from the client that go to Bedrock unsigned (the signature covers the rest). */
export function unsignedExtras (h: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k in h) if (k.startsWith('x-stainless-')) out[k] = h[k] as string
  if (h['user-agent'] !== undefined) out['user-agent'] = h['user-agent']
  out['accept-encoding'] = 'identity'
  return out
}

/** Regions whose built-in model ids are the `us.` cross-region inference profiles. */
function usesUsProfiles (region: string): boolean {
  return /^us-(?!gov)/.test(region) || region.startsWith('ca-')
}

/**
 * The id to invoke: a built-in `us.` inference profile becomes the plain foundation-model id
 * outside the US (a US profile cannot be invoked from other regions); operator-mapped ids are
 * left as they are.
 */
export function regionalModel (model: string, region: string): string {
  if (usesUsProfiles(region) || !model.startsWith('us.')) return model
  return lookupModel(model)?.bedrock === model ? model.slice(3) : model
}

/** Betas for Bedrock's body: the header's (minus request-tags) then any already in the body, deduplicated. */
export function mergedBetas (header: string | undefined, body: Buffer, ms: readonly Member[]): string[] {
  const out: string[] = []
  const add = (v: unknown): void => { if (typeof v === 'string' && v !== '' && !TAGS_BETA.test(v) && !out.includes(v)) out.push(v) }
  for (const b of betaList(header)) add(b)
  const existing = ms.find((m) => m.key === 'anthropic_beta')
  if (existing !== undefined) {
    const v = valueOf(body, existing)
    if (Array.isArray(v)) for (const x of v) add(x)
  }
  return out
}

export function bedrockUpstream (cfg: BedrockUpstream, o: PoolOptions & { env: NodeJS.ProcessEnv }): Upstream {
  const base = new URL(cfg.base_url ?? `https://bedrock-runtime.${cfg.region}.amazonaws.com`)
  const prefix = basePath(base)
  const auth = awsAuth({ name: cfg.name, region: cfg.region, service: 'bedrock', auth: cfg.auth, assumeRole: cfg.assume_role, env: o.env })
  loadEventStream() // at config time, not on the first streamed reply
  const guard: Record<string, string> = {}
  if (cfg.guardrail !== undefined) {
    guard['x-amzn-bedrock-guardrailidentifier'] = cfg.guardrail.id
    guard['x-amzn-bedrock-guardrailversion'] = cfg.guardrail.version
  }
  if (cfg.guardrail_trace === true) guard['x-amzn-bedrock-trace'] = 'ENABLED'
  const guarded = cfg.guardrail !== undefined || cfg.guardrail_trace === true
  const tagging = cfg.guardrail?.input_tagging
  const extra = cfg.headers ?? {}
  const counter = new BedrockCounter(cfg.name)
  // with guardrail_trace, the trace goes to the operator log, not to the client
  const trace = cfg.guardrail_trace === true ? (json: Buffer): Buffer => stripTrace(json, (line) => { ops.info(`upstream ${cfg.name}: ${line}`) }) : undefined
  const dispatcher = new CloudSender(upstreamDispatcher(base, o), cfg.name, {
    onAuthFailure: auth.invalidate,
    count: counter.hooks,
    ...(trace !== undefined ? { json: { matches: (path: string) => path.endsWith('/invoke'), reshape: trace } } : {}),
  })

  function messages (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const ms = members(call.body)
    if (guarded) {
      const own = ms.find((m) => /^amazon-bedrock-/i.test(m.key))
      if (own !== undefined) refuse(`${own.key} is not permitted: this gateway applies a guardrail to Bedrock requests`)
    }
    const betas = mergedBetas(call.headers['anthropic-beta'], call.body, ms)
    const add: Array<[string, string]> = []
    if (!ms.some((m) => m.key === 'anthropic_version')) add.push(['anthropic_version', JSON.stringify(BEDROCK_VERSION)])
    if (betas.length > 0) add.push(['anthropic_beta', JSON.stringify(betas)])
    const replace = new Map<string, string>()
    if (tagging !== undefined) {
      const msg = ms.find((m) => m.key === 'messages')
      const sys = ms.find((m) => m.key === 'system')
      let tagged
      try {
        tagged = msg === undefined ? null : tagInput(valueOf(call.body, msg), sys === undefined ? undefined : valueOf(call.body, sys), tagging)
      } catch {
        refuse('the request could not be prepared for the guardrail this gateway applies to Bedrock requests, so it was not sent')
      }
      if (tagged !== null) {
        replace.set('messages', tagged.messages)
        if (tagged.system !== undefined) replace.set('system', tagged.system)
        add.push([GUARD_CONFIG_KEY, JSON.stringify({ tagSuffix: tagged.suffix })])
      }
    }
    const body = rebuild(call.body, ms, { drop: DROP, add, replace })
    const stream = call.scan.stream === true
    const model = regionalModel(call.model, cfg.region)
    const path = `${prefix}/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`
    const signed = { ...extra, ...guard, 'content-type': 'application/json', accept: stream ? EVENTSTREAM_TYPE : 'application/json' }
    return then(auth.headers({ origin: base.origin, path, headers: signed, body }, call.principal), (h) => ({
      origin: base.origin,
      path,
      headers: { ...h, ...unsignedExtras(call.headers) },
      body,
    }))
  }

  function count (call: UpstreamCall): Outgoing | Promise<Outgoing> {
    const req = counter.request(call, regionalModel(call.model, cfg.region)) // throws GW_NOT_SUPPORTED when it cannot count
    const path = `${prefix}${req.path}`
    const signed = { ...extra, 'content-type': 'application/json', accept: 'application/json' }
    return then(auth.headers({ origin: base.origin, path, headers: signed, body: req.body }, null), (h) => ({
      origin: base.origin,
      path,
      headers: { ...h, ...unsignedExtras(call.headers) },
      body: req.body,
    }))
  }

  return cloudUpstream(cfg.name, 'bedrock', dispatcher, (call) => call.endpoint === 'count_tokens' ? count(call) : messages(call), {
    decoder: (_status, ct) => ct !== undefined && ct.startsWith(EVENTSTREAM_TYPE) ? new EventStreamDecoder(cfg.name, trace) : null,
    invalidateCredentials: auth.invalidate,
  })
}

const DROP = new Set(['model', 'stream', 'tags', 'anthropic_beta'])

/** A client error found while preparing the request: the hot path answers it (400) without sending anything. */
function refuse (message: string): never {
  throw new GatewayError('GW_BAD_REQUEST', message)
}
