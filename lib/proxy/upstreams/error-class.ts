/**
 * What a cloud provider's 400/413 complained about, as a class Claude Code recovers from.
 *
 * Cloud error text can carry account ids, ARNs and project ids, so the client never sees it; but
 * Claude Code adapts to some refusals (drops a beta, strips thinking blocks, compacts the
 * conversation, retries without images…) when the message says `capability_rejected: <class>`.
 * This reads the provider's wording and names the class; failover.ts sends only the class.
 * Classes, checked in this order: `mid_conv_system`, `cache_control_field`, `thinking_signature`,
 * `thinking_type:<enabled|adaptive>`, `structured_outputs_unsupported`, `effort_unsupported`,
 * `media_budget`, `image_block`, `document_block`, `prompt_too_long`, `max_tokens_context_overflow`,
 * `beta_header:<value>`.
 */

export const CAPABILITY_REJECTED = 'capability_rejected: '

const SYSTEM_WORD = /system messages?\b|role .{0,2}system/i
const BLOCK_PATH = /messages[.[](\d+)[\].]+content[.[](\d+)[\].]+(?:tool_result[.[]content[.[](\d+)[\].]+)?(image|document|pdf)\b/
const IMAGE_WORDS = ['could not process image', 'image exceeds', 'image dimensions', 'invalid image']
const DOCUMENT_WORDS = ['could not process pdf', 'pdf exceeds', 'document exceeds', 'invalid pdf', 'pdf has too many pages']
const BETA_VALUE = /\b([a-z][a-z0-9]*(?:-[a-z0-9]+)*-20\d\d-\d\d-\d\d)\b/

function midConversationSystem (m: string): boolean {
  if (m.includes('Unexpected role') && m.includes('input message role')) return true
  if (/unexpected role\W{0,3}system/i.test(m)) return true
  if (m.includes('cache_control') && SYSTEM_WORD.test(m)) return true
  return m.includes('not supported') && /role .{0,2}system/i.test(m)
}

function cacheControlField (m: string): boolean {
  if (!m.includes('cache_control') || SYSTEM_WORD.test(m) || m.includes('empty text block') || m.includes('tool_result') || /\bttl\b/i.test(m) || /\bsystem\.\d+\./.test(m)) return false
  const l = m.toLowerCase()
  return ['not permitted', 'cannot be set', 'unknown name', 'unknown field', 'unrecognized', 'additional propert'].some((w) => l.includes(w))
}

function thinkingSignature (m: string): boolean {
  const l = m.toLowerCase().replaceAll('`', '')
  if (l.includes('signature in thinking block') || l.includes('invalid data in redacted_thinking block')) return true
  if (l.includes('thinking.signature') && l.includes('field required')) return true
  return (l.includes('thinking block') || l.includes('redacted_thinking')) && (l.includes('cannot be modified') || l.includes('invalid signature'))
}

function thinkingType (m: string): string | undefined {
  const r = /thinking\.type\W{1,8}(enabled|adaptive)[\s\S]*?not supported/i.exec(m) ?? /\b(adaptive) thinking is not supported/i.exec(m)
  return r?.[1]?.toLowerCase()
}

/** The class for an upstream's 400/413 message, or undefined when none fits. */
export function capabilityClass (status: number, message: string): string | undefined {
  const l = message.toLowerCase()
  const tooLong = l.includes('prompt is too long') || l.includes('input is too long for requested model')
  if (status === 413) return tooLong || l.includes('context window') ? 'prompt_too_long' : undefined
  if (status !== 400) return undefined
  if (midConversationSystem(message)) return 'mid_conv_system'
  if (cacheControlField(message)) return 'cache_control_field'
  if (thinkingSignature(message)) return 'thinking_signature'
  const tt = thinkingType(message)
  if (tt !== undefined) return `thinking_type:${tt}`
  if (l.includes('output_config.format: extra inputs are not permitted')) return 'structured_outputs_unsupported'
  if ((l.includes('effort parameter') && l.includes('not support')) || (l.includes('output_config') && (l.includes('extra inputs are not permitted') || l.includes('requires a model that supports')))) return 'effort_unsupported'
  if (l.includes('too much media')) return 'media_budget'
  const path = BLOCK_PATH.exec(message)
  if (path !== null) return path[4] === 'image' ? 'image_block' : 'document_block'
  if (IMAGE_WORDS.some((w) => l.includes(w))) return 'image_block'
  if (DOCUMENT_WORDS.some((w) => l.includes(w))) return 'document_block'
  if (tooLong) return 'prompt_too_long'
  if (l.includes('input length and `max_tokens` exceed context limit')) return 'max_tokens_context_overflow'
  if (/anthropic[-_]beta/i.test(message)) {
    const b = BETA_VALUE.exec(message)
    // The value is upstream text (it may echo the client's header): only a plausible beta name.
    if (b !== null && (b[1] as string).length <= 100) return `beta_header:${b[1] as string}`
  }
  return undefined
}
