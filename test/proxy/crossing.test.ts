/**
 * The body an attempt gets when it crosses providers (lib/proxy/crossing.ts): foreign thinking
 * signatures removed from assistant turns, top-level `thinking` removed only when the tool loop's
 * latest turn lost its own, every other member byte for byte, and an unchanged body passed through
 * as the very same bytes.
 */
import t from 'tap'
import { crossedBody, withoutBetas } from '../../lib/proxy/crossing.js'
import { refusedBeta } from '../../lib/proxy/failover.js'

const SIG = 'EqQBCkgIARABGAIiQLx-anthropic-minted'
const thinkingBlock = { type: 'thinking', thinking: 'let me see', signature: SIG }
const redacted = { type: 'redacted_thinking', data: 'EmwKAhgBEgy-opaque' }

t.test('nothing to change: the same Buffer, byte for byte', async (t) => {
  const cases = [
    '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
    // "thinking" appears (config and user text) but no assistant turn carries a signed block.
    ' { "model" : "m", "thinking": {"type":"enabled","budget_tokens":1024},\n "messages":[{"role":"user","content":"thinking about redacted_thinking"},{"role":"assistant","content":[{"type":"text","text":"ok"}]},{"role":"user","content":[{"type":"text","text":"more"}]}] } ',
    '{"model":"m","messages":[{"role":"assistant","content":"thinking as a string"}]}',
    '{"model":"m","messages":"not a list, thinking"}',
    '{"model":"m"}',
    '{"messages":[{"role":"assistant","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"enabled","budget_tokens":1024}}',
    'not json at all',
  ]
  for (const s of cases) {
    const b = Buffer.from(s)
    t.equal(crossedBody(b), b, `untouched: ${s.slice(0, 40)}`)
  }
})

t.test('signed blocks leave assistant turns; other members keep their bytes', async (t) => {
  const tools = '[ {"name":"Read","input_schema":{"type":"object","properties":{"p":{"type":"string"}}}} ]'
  const src = `{"model":"claude-sonnet-4-5","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":2048},"tools":${tools},"messages":${JSON.stringify([
    { role: 'user', content: 'read a' },
    { role: 'assistant', content: [thinkingBlock, { type: 'tool_use', id: 'tu1', name: 'Read', input: { p: 'a' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'A' }] },
    { role: 'assistant', content: [redacted, { type: 'text', text: 'A says A' }] },
    { role: 'user', content: 'thanks, thinking of you' },
  ])},"metadata":{"user_id":"u\\u00e9"}}`
  const out = crossedBody(Buffer.from(src))
  const j = JSON.parse(out.toString())
  t.same(j.messages, [
    { role: 'user', content: 'read a' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'tu1', name: 'Read', input: { p: 'a' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'A' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'A says A' }] },
    { role: 'user', content: 'thanks, thinking of you' },
  ])
  t.same(j.thinking, { type: 'enabled', budget_tokens: 2048 }, 'thinking stays on: the latest assistant turn is not a tool loop')
  const s = out.toString()
  t.ok(s.includes(`"tools":${tools}`), 'tools bytes unchanged (spaces kept)')
  t.ok(s.includes('"metadata":{"user_id":"u\\u00e9"}'), 'escapes kept as sent')
  t.notOk(s.includes(SIG), 'no foreign signature left')
  t.ok(s.startsWith('{"model":"claude-sonnet-4-5","max_tokens":4096,"thinking":'), 'member order kept')
})

t.test('the tool loop in progress lost its thinking: top-level thinking goes too', async (t) => {
  const mk = (thinking: unknown): Buffer => Buffer.from(JSON.stringify({
    model: 'm',
    max_tokens: 100,
    thinking,
    messages: [
      { role: 'user', content: 'read a' },
      { role: 'assistant', content: [thinkingBlock, { type: 'tool_use', id: 'tu1', name: 'Read', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'A' }] },
    ],
  }))
  for (const type of ['enabled', 'adaptive']) {
    const j = JSON.parse(crossedBody(mk(type === 'enabled' ? { type, budget_tokens: 1024 } : { type })).toString())
    t.equal(j.thinking, undefined, `${type} thinking removed`)
    t.same(j.messages[1].content, [{ type: 'tool_use', id: 'tu1', name: 'Read', input: {} }])
    t.equal(j.max_tokens, 100)
  }
  const off = JSON.parse(crossedBody(mk({ type: 'disabled' })).toString())
  t.same(off.thinking, { type: 'disabled' }, 'a disabled thinking member is left alone')
})

t.test('an assistant turn with only thinking is removed', async (t) => {
  const b = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [redacted] }, { role: 'user', content: 'b' }] }))
  t.same(JSON.parse(crossedBody(b).toString()).messages, [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])
})

t.test('betas: a refused beta is named only when it was sent; the header without it', async (t) => {
  const refusal = Buffer.from(JSON.stringify({ message: 'invalid beta flag in anthropic_beta: fancy-feature-2026-01-15' }))
  t.equal(refusedBeta(refusal, 'claude-code-20250219,fancy-feature-2026-01-15'), 'fancy-feature-2026-01-15')
  t.equal(refusedBeta(refusal, 'claude-code-20250219'), undefined, 'not sent: not dropped')
  t.equal(refusedBeta(Buffer.from('{"message":"messages.1.content.0: Invalid `signature` in `thinking` block"}'), 'fancy-feature-2026-01-15'), undefined)
  t.equal(refusedBeta(Buffer.from('not json'), 'x'), undefined)
  t.equal(withoutBetas('a-2025-01-01, b-2025-01-01', ['a-2025-01-01']), 'b-2025-01-01')
  t.equal(withoutBetas('a-2025-01-01', ['a-2025-01-01']), undefined)
  t.equal(withoutBetas('a-2025-01-01', []), 'a-2025-01-01')
  t.equal(withoutBetas(undefined, ['a']), undefined)
})
