/**
 * The `mock` upstream drives a tool round trip: a prompt saying "run `CMD`" gets a `tool_use` block
 * (streamed as content_block_start + input_json_delta, or as JSON), and the request carrying the
 * `tool_result` gets a reply quoting it. Checked on the wire through Weir, then end to end with the
 * real Claude Code CLI, which must execute the tool for the marker to come back.
 */
import t from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { claudeAvailable, runClaude } from '../helpers/claude-cli.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const TOOLS = [
  { name: 'Bash', description: 'run a shell command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } },
  { name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } },
]

interface Sse { event: string, data: any } // eslint-disable-line @typescript-eslint/no-explicit-any
const events = (text: string): Sse[] => text.split('\n\n').filter((f) => f.trim() !== '').map((f) => {
  const ev = /^event: (.*)$/m.exec(f)?.[1] ?? ''
  const data = /^data: (.*)$/m.exec(f)?.[1] ?? 'null'
  return { event: ev, data: JSON.parse(data) }
})

t.test('mock upstream: tool_use on request, then a reply quoting the tool_result', async (t) => {
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'mock', name: 'mock', events: 4 }] } })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
  const post = async (body: Record<string, unknown>) => await req(`${url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 100, tools: TOOLS, ...body }),
  })
  const ask = [{ role: 'user', content: [{ type: 'text', text: '<system-reminder>run `rm -rf /`</system-reminder>' }, { type: 'text', text: 'please run `echo hi` for me' }] }]

  const plain = await post({ messages: ask })
  t.equal(plain.status, 200, plain.text)
  const msg = plain.json()
  t.equal(msg.stop_reason, 'tool_use')
  const use = msg.content.find((b: { type: string }) => b.type === 'tool_use')
  t.match(use, { type: 'tool_use', name: 'Bash', input: { command: 'echo hi' } }, 'the command from the prompt, not from a system reminder')
  t.match(use.id, /^toolu_/)

  const streamed = await post({ messages: ask, stream: true })
  t.equal(streamed.status, 200)
  const ev = events(streamed.text)
  const start = ev.find((e) => e.event === 'content_block_start' && e.data.content_block.type === 'tool_use')
  t.ok(start, 'a tool_use content block starts')
  t.same(start?.data.content_block.input, {}, 'input arrives in deltas')
  const json = ev.filter((e) => e.event === 'content_block_delta' && e.data.index === start?.data.index)
  t.ok(json.length >= 2, 'the input is split over several input_json_delta events')
  t.ok(json.every((e) => e.data.delta.type === 'input_json_delta'))
  t.match(JSON.parse(json.map((e) => e.data.delta.partial_json).join('')), { command: 'echo hi' })
  t.equal(ev.find((e) => e.event === 'message_delta')?.data.delta.stop_reason, 'tool_use')
  t.equal(ev[ev.length - 1]?.event, 'message_stop')

  const read = await post({ messages: [{ role: 'user', content: 'read /etc/hostname please' }] })
  t.match(read.json().content[1], { type: 'tool_use', name: 'Read', input: { file_path: '/etc/hostname' } })
  const noTools = await post({ messages: ask, tools: [] })
  t.equal(noTools.json().stop_reason, 'end_turn', 'no tool offered: no tool_use')
  t.match(noTools.json().content[0].text, /^You said: please run/)

  const after = [...ask, { role: 'assistant', content: msg.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'hi-from-the-tool' }, { type: 'text', text: '<system-reminder>ignore me</system-reminder>' }] }] }]
  const done = await post({ messages: after })
  t.equal(done.json().stop_reason, 'end_turn')
  t.match(done.json().content[0].text, /The tool returned:\nhi-from-the-tool/)
  t.notMatch(done.json().content[0].text, /ignore me/, 'client reminders are not quoted')
  const doneStream = events((await post({ messages: after, stream: true })).text)
  const text = doneStream.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('')
  t.match(text, /The tool returned:\nhi-from-the-tool/)
  const failed = await post({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x', is_error: true, content: 'permission denied' }] }] })
  t.match(failed.json().content[0].text, /The tool failed:\npermission denied/)
})

t.test('claude -p runs the Bash tool the mock asks for and gets the answer that quotes its output', { skip: claudeAvailable() ? false : 'the Claude Code binary is not installed (linux-x64 dev dependency)' }, async (t) => {
  const { url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'mock', name: 'mock' }] } })
  const token = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
  // The output (WEIR-42-MARK) differs from the command text, so it can only come from running it.
  const run = await runClaude(url, token, 'run `echo WEIR-$((6*7))-MARK`', { args: ['--allowedTools', 'Bash'], timeoutMs: 120_000 })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /The tool returned:\s*WEIR-42-MARK/, run.stdout)
  t.notMatch(run.stdout, /\$\(\(6\*7\)\)/, 'the answer quotes the output, not the command')
})
