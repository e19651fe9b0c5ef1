/**
 * Which refused body field a crossing attempt sheds (lib/proxy/crossing-fields.ts): only what the
 * refusal names and the body has, in the providers' wordings; the body without it keeps every
 * other member's bytes, client tools and tool inputs included; an unchanged body is the same Buffer.
 */
import t from 'tap'
import { crossedBody } from '../../lib/proxy/crossing.js'
import { refusedField, withoutFields } from '../../lib/proxy/crossing-fields.js'

const env = (message: string): Buffer => Buffer.from(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } }))
const aws = (message: string): Buffer => Buffer.from(JSON.stringify({ message }))
const google = (message: string): Buffer => Buffer.from(JSON.stringify([{ error: { code: 400, message, status: 'INVALID_ARGUMENT' } }]))
const body = (o: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...o }))

t.test('refusedField names the fix for the refusals providers send', async (t) => {
  const sent = body({
    context_management: { edits: [] },
    container: 'ctr_1',
    mcp_servers: [],
    service_tier: 'auto',
    tools: [{ name: 'Read', input_schema: {} }, { type: 'web_fetch_20250910', name: 'web_fetch' }, { type: 'code_execution_20250825', name: 'code_execution' }],
    system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '1h' } }],
  })
  t.equal(refusedField(aws('Malformed input request: #: extraneous key [context_management] is not permitted, please reformat your input and try again.'), sent), 'field:context_management')
  t.equal(refusedField(env('container: Extra inputs are not permitted'), sent), 'field:container')
  t.equal(refusedField(google('mcp_servers: Extra inputs are not permitted'), sent), 'field:mcp_servers')
  t.equal(refusedField(env('service_tier: Extra inputs are not permitted'), sent), 'field:service_tier')
  t.equal(refusedField(aws("tools.1: Input tag 'web_fetch_20250910' found using 'type' does not match any of the expected tags: 'code_execution_20250825', 'custom'"), sent), 'tool:web_fetch_20250910', 'the found tag, not an expected one')
  t.equal(refusedField(env('tools.2.type: Invalid tool type'), sent), 'tool:code_execution_20250825', 'by index')
  t.equal(refusedField(env('system.0.cache_control.ttl: Extra inputs are not permitted'), sent), 'cache_ttl')
  // Not ours to shed.
  t.equal(refusedField(env('tools.0.type: Invalid tool type'), sent), undefined, 'a client tool is never removed')
  t.equal(refusedField(env('metadata.user_id: Extra inputs are not permitted'), sent), undefined)
  t.equal(refusedField(env('messages.0.content: Field required'), sent), undefined, 'no refusal wording')
  t.equal(refusedField(env('container: Extra inputs are not permitted'), body({})), undefined, 'a field the body does not have')
  t.equal(refusedField(env('system.0.cache_control.ttl: Extra inputs are not permitted'), body({})), undefined)
  t.equal(refusedField(Buffer.from('<html>bad gateway</html>'), sent), undefined)
  t.equal(refusedField(env('prompt_container_size: unrecognized'), sent), undefined, 'a key only as part of a longer word')
})

t.test('withoutFields removes only what the fixes name', async (t) => {
  const tools = [
    { name: 'Read', input_schema: { type: 'object', properties: { cache_control: { type: 'object', ttl: 'x' } } }, cache_control: { type: 'ephemeral', ttl: '1h' } },
    { type: 'web_fetch_20250910', name: 'web_fetch' },
  ]
  const src = body({ context_management: { edits: [] }, metadata: { user_id: 'u\u00e9' }, tools, tool_choice: { type: 'tool', name: 'web_fetch' } })
  t.equal(withoutFields(src, []), src, 'no fixes: the same Buffer')
  t.equal(withoutFields(src, ['field:container']), src, 'nothing to remove: the same Buffer')
  const a = JSON.parse(withoutFields(src, ['field:context_management']).toString())
  t.equal(a.context_management, undefined)
  t.same(a.tools, tools)
  const b = withoutFields(src, ['tool:web_fetch_20250910', 'cache_ttl'])
  const j = JSON.parse(b.toString())
  t.same(j.tools.map((x: { name: string }) => x.name), ['Read'])
  t.equal(j.tool_choice, undefined, 'tool_choice named the removed tool')
  t.same(j.tools[0].cache_control, { type: 'ephemeral' })
  t.same(j.tools[0].input_schema, tools[0]?.input_schema, 'a schema is the client\'s data: its "cache_control" property is kept')
  t.ok(b.includes(Buffer.from('"metadata":{"user_id":"u\u00e9"}')), 'other members keep their bytes')
  const only = JSON.parse(withoutFields(body({ tools: [tools[1]], tool_choice: { type: 'any' } }), ['tool:web_fetch_20250910']).toString())
  t.equal(only.tools, undefined, 'no tool left: tools and tool_choice go')
  t.equal(only.tool_choice, undefined)
  const msgs = body({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x', content: [{ type: 'text', text: 't', cache_control: { type: 'ephemeral', ttl: '5m' } }] }] }, { role: 'assistant', content: [{ type: 'tool_use', id: 'y', name: 'N', input: { cache_control: { ttl: 'keep' } } }] }] })
  const m = JSON.parse(withoutFields(msgs, ['cache_ttl']).toString())
  t.same(m.messages[0].content[0].content[0].cache_control, { type: 'ephemeral' })
  t.same(m.messages[1].content[0].input, { cache_control: { ttl: 'keep' } }, 'tool input untouched')
})

t.test('crossedBody applies the fixes after removing foreign thinking', async (t) => {
  const src = body({ container: 'c', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 'S' }, { type: 'text', text: 'b' }] }, { role: 'user', content: 'c' }] })
  const out = JSON.parse(crossedBody(src, ['field:container']).toString())
  t.equal(out.container, undefined)
  t.same(out.messages[1].content, [{ type: 'text', text: 'b' }])
  const plain = body({})
  t.equal(crossedBody(plain, ['field:container']), plain)
})
