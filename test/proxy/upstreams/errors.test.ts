/**
 * Cloud error bodies: generic messages that keep the error type, the exact sentences and
 * `capability_rejected` classes Claude Code recovers from, and never an account id, ARN or project.
 */
import t from 'tap'
import { finalFailure, sanitisedBody } from '../../../lib/proxy/failover.js'
import { capabilityClass } from '../../../lib/proxy/upstreams/error-class.js'
import type { Upstream } from '../../../lib/proxy/upstreams/types.js'

const msg = (status: number, body: unknown): { type: string, message: string } =>
  (JSON.parse(sanitisedBody(status, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), 'req_1').toString()) as { error: { type: string, message: string } }).error

t.test('Bedrock and Vertex shapes: generic text, no identifiers', async (t) => {
  const arn = 'User: arn:aws:sts::123456789012:assumed-role/gw/i-0abc is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x'
  for (const [status, type] of [[403, 'permission_error'], [401, 'authentication_error'], [404, 'not_found_error'], [429, 'rate_limit_error'], [500, 'api_error'], [503, 'api_error'], [529, 'overloaded_error']] as Array<[number, string]>) {
    const out = sanitisedBody(status, Buffer.from(JSON.stringify({ message: arn })), 'req_1').toString()
    t.notMatch(out, /123456789012|arn:aws/, `${status}`)
    t.equal(JSON.parse(out).error.type, type)
    t.equal(JSON.parse(out).request_id, 'req_1')
  }
  const vertex = msg(400, { error: { code: 400, message: 'Project `corp-prod-4711` is not allowed to use Publisher Model `projects/corp-prod-4711/locations/us-east5/publishers/anthropic/models/claude-x`', status: 'FAILED_PRECONDITION' } })
  t.same(vertex, { type: 'invalid_request_error', message: 'upstream rejected the request' })
  t.same(msg(400, 'not json at all arn:aws:iam::123456789012:role/x'), { type: 'invalid_request_error', message: 'upstream rejected the request' })
})

t.test('the sentences and envelopes the client recovers from', async (t) => {
  t.same(msg(400, { message: 'Input is too long.' }), { type: 'invalid_request_error', message: 'Input is too long.' }, "Bedrock's whole-message refusal")
  t.equal(msg(400, { Message: 'input is too long' }).message, 'Input is too long.')
  t.equal(msg(400, { error: { code: 400, message: 'The request size (30037042 bytes) exceeds 30.000MB limit.', status: 'FAILED_PRECONDITION' } }).message, 'Input is too long.', "Vertex's size 400")
  t.equal(msg(400, [{ error: { code: 400, message: 'The message size (31457281 bytes) exceeds 30.000 MB limit.', status: 'FAILED_PRECONDITION' } }]).message, 'Input is too long.', 'array-wrapped, "message size", "30.000 MB"')
  t.equal(msg(400, { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }).message, 'prompt is too long: 210000 tokens > 200000 maximum', "Anthropic's own envelope (Vertex)")
  t.equal(msg(413, { type: 'error', error: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' } }).message, 'Request exceeds the maximum allowed number of bytes.')
  t.equal(msg(400, { type: 'error', error: { type: 'made_up', message: 'arn:aws:x' } }).message, 'upstream rejected the request', 'an envelope with an unknown type is not trusted')
  t.equal(msg(400, { message: 'Input is too long for requested model.' }).message, 'capability_rejected: prompt_too_long')
  t.equal(msg(413, { message: 'The input exceeds the context window of this model' }).message, 'capability_rejected: prompt_too_long')
  t.equal(msg(400, { type: 'error', error: { type: 'invalid_request_error', message: 'x'.repeat(2000) } }).message.length, 1000)
})

t.test('capability classes from the providers\' wording', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['messages.3.content.0.image.source.base64: image exceeds 5 MB maximum: 7340032 bytes > 5242880 bytes', 'image_block'],
    ['messages.1.content.2.document.source: could not process PDF', 'document_block'],
    ['Could not process image', 'image_block'],
    ['messages.5.content.1: Invalid `signature` in `thinking` block', 'thinking_signature'],
    ['messages.1.content.0.thinking.signature: Field required', 'thinking_signature'],
    ['thinking.type: Input tag \'adaptive\' found using \'type\' does not match any of the expected tags; adaptive thinking is not supported on this model', 'thinking_type:adaptive'],
    ['thinking.type.enabled: thinking type enabled is not supported for this model', 'thinking_type:enabled'],
    ['output_config.format: Extra inputs are not permitted', 'structured_outputs_unsupported'],
    ['output_config: Extra inputs are not permitted', 'effort_unsupported'],
    ['This model does not support the effort parameter.', 'effort_unsupported'],
    ['Too much media: 101 images > 100 maximum', 'media_budget'],
    ['system.0.cache_control.ttl: unsupported', undefined],
    ['tools.3.cache_control: Extra inputs are not permitted (unrecognized field)', 'cache_control_field'],
    ['Unexpected role "system". Allowed roles are "user" or "assistant" for input message role', 'mid_conv_system'],
    ['input length and `max_tokens` exceed context limit: 190000 + 64000 > 200000', 'max_tokens_context_overflow'],
    ['invalid beta flag in anthropic_beta: fancy-feature-2026-01-15', 'beta_header:fancy-feature-2026-01-15'],
    ['messages: roles must alternate between "user" and "assistant"', undefined],
  ]
  for (const [text, want] of cases) t.equal(capabilityClass(400, text), want, text)
  t.equal(capabilityClass(500, 'prompt is too long'), undefined)
  t.equal(msg(400, { message: cases[0]?.[0] }).message, 'capability_rejected: image_block')
})

t.test('final answer headers: retry-after kept on a 429, x-should-retry: false on a 501', async (t) => {
  const cloud = { name: 'br', provider: 'bedrock', sanitizeErrors: true } as unknown as Upstream
  const h = (r: ReturnType<typeof finalFailure>): Record<string, string> => {
    const out: Record<string, string> = {}
    const raw = r.relay?.headers ?? []
    for (let i = 0; i < raw.length; i += 2) out[(raw[i] as Buffer).toString()] = (raw[i + 1] as Buffer).toString()
    return out
  }
  const rl = finalFailure([{ upstream: cloud, status: 429, headers: [Buffer.from('Retry-After'), Buffer.from('7'), Buffer.from('x-amzn-requestid'), Buffer.from('abc')], body: Buffer.from('{"message":"Too many requests, please wait before trying again."}') }], 'req_2', 'messages')
  t.same(h(rl), { 'content-type': 'application/json', 'retry-after': '7' })
  const ns = finalFailure([{ upstream: cloud, status: 501, body: Buffer.from('{}') }], 'req_3', 'count_tokens')
  t.same(h(ns), { 'content-type': 'application/json', 'x-should-retry': 'false' })
  t.equal(JSON.parse(ns.relay?.body.toString() ?? '{}').error.type, 'not_supported')
})
