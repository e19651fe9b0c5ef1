/**
 * `telemetry` in gateway.yaml: the relay keys are accepted by the loader (implemented), and the
 * Weir extension `telemetry.gateway_metrics` is validated.
 */
import t from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../lib/config/load.js'
import { BootError } from '../../lib/errors.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const base = (): Obj => ({
  listen: { host: '127.0.0.1' },
  oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
  session: { jwt_secret: 'a-secret-of-more-than-32-characters-long' },
  store: { postgres_url: 'postgres://weir@db.example.com/weir' },
  upstreams: [{ provider: 'anthropic', auth: { api_key: 'sk-test' } }],
})

function load (telemetry: Obj, env: NodeJS.ProcessEnv = {}): { lines: string[], value?: Obj } {
  const c = base()
  c.telemetry = telemetry
  try {
    return { lines: [], value: parseConfig(stringify(c), 'gateway.yaml', env).config.telemetry as Obj }
  } catch (err) {
    if (err instanceof BootError) return { lines: [...err.lines] }
    throw err
  }
}

t.test('relay keys load: forward_to (with auth.google) and resource_attributes', async (t) => {
  const r = load({
    forward_to: [
      { url: 'https://otel.example.com/', headers: { 'X-Key': 'k' }, logs: true },
      { url: 'https://telemetry.googleapis.com', auth: { google: { service_account_json: '/secrets/sa.json' } }, traces: true },
    ],
    resource_attributes: { 'team.name': 'core' },
  })
  t.same(r.lines, [])
  t.same(r.value?.forward_to, [
    { url: 'https://otel.example.com/', headers: { 'X-Key': 'k' }, metrics: true, logs: true, traces: false },
    { url: 'https://telemetry.googleapis.com', headers: {}, auth: { google: { service_account_json: '/secrets/sa.json' } }, metrics: true, logs: false, traces: true },
  ])
  t.same(r.value?.resource_attributes, { 'team.name': 'core' })
})

t.test('gateway_metrics (Weir extension)', async (t) => {
  const ok = load({ gateway_metrics: { otlp: { url: 'https://otel.example.com' }, prometheus: { port: '9464' } } })
  t.same(ok.lines, [])
  t.same(ok.value?.gateway_metrics, { otlp: { url: 'https://otel.example.com', headers: {}, interval_seconds: 60 }, prometheus: { port: 9464 } }, 'defaults filled, port coerced')
  t.same(load({ gateway_metrics: {} }).lines, [], 'an empty block is allowed (nothing exported)')
  const bad = load({ gateway_metrics: { otlp: { url: 'http://otel.example.com', interval_seconds: 0 }, prometheus: { port: 70000, colour: 1 } } })
  t.same(bad.lines.map((l) => l.replace(/^gateway\.yaml:\d+:\d+ /, '')), [
    'telemetry.gateway_metrics.otlp.url: must be https:// (http:// only for loopback)',
    'telemetry.gateway_metrics.otlp.interval_seconds: Expected a number of at least 1, but received: 0',
    'telemetry.gateway_metrics.prometheus.port: Expected an integer of at most 65535, but received: 70000',
    'telemetry.gateway_metrics.prometheus.colour: unknown key',
  ])
  t.same(load({ gateway_metrics: { prometheus: {} } }).lines.length, 1, 'port is required')
  t.same(load({ gateway_metrics: { otlp: { url: 'http://127.0.0.1:4318' } } }, { CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1' }).lines, [], 'loopback with the opt-in')
})
