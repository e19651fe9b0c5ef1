/**
 * lib/config/diff.ts: which changes need a restart, what a reload applies (`liveConfig` keeps every
 * restart-only subtree as it runs, so nothing is half-applied), and redaction.
 */
import t from 'tap'
import { describeChange, diffConfigs, liveConfig } from '../../lib/config/diff.js'
import { baseYaml, parse } from '../helpers/config.js'

const load = (edit?: (c: Record<string, any>) => void) => parse(baseYaml(edit)).config // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('live and restart changes; liveConfig applies only the live ones', async (t) => {
  const before = load((c) => { c.admin = {} })
  const after = load((c) => {
    c.admin = { alerts: { thresholds: [0.5] } }
    c.listen.port = 9999
    c.listen.tls = undefined
    c.store.max_connections = 3
    c.limits = { max_request_bytes: 4096 }
  })
  const changes = diffConfigs(before, after)
  const restart = changes.filter((c) => c.restart !== undefined).map((c) => c.path.join('.'))
  t.ok(restart.includes('listen.port'))
  t.ok(restart.includes('store.max_connections'))
  t.ok(restart.some((p) => p.startsWith('admin.alerts')))
  const live = liveConfig(before, after)
  t.equal(live.listen.port, 8080, 'listen.port kept')
  t.equal(live.store.max_connections, before.store.max_connections, 'store kept')
  t.same(live.admin?.alerts, before.admin?.alerts, 'alert settings kept')
  t.same(live.limits, after.limits, 'limits applied')
  t.same(diffConfigs(before, live).filter((c) => c.restart !== undefined), [], 'nothing restart-only differs from the running config')
})

t.test('adding or removing a whole admin block needs a restart', async (t) => {
  const before = load()
  const after = load((c) => { c.admin = {} })
  const changes = diffConfigs(before, after)
  t.ok(changes.length > 0 && changes.every((c) => c.restart !== undefined))
  t.equal(liveConfig(before, after).admin, undefined)
})

t.test('describeChange redacts secrets and can hide every value', async (t) => {
  const before = load()
  const after = load((c) => { c.upstreams[0].auth.api_key = 'sk-new'; c.limits = { max_request_bytes: 2048 } })
  const lines = diffConfigs(before, after).map((c) => describeChange(c))
  t.ok(lines.includes('~ upstreams[0].auth.api_key: (secret changed)'))
  t.ok(lines.some((l) => /^~ limits\.max_request_bytes: \d+ → 2048$/.test(l)))
  const bare = diffConfigs(before, after).map((c) => describeChange(c, { values: false }))
  t.ok(bare.every((l) => !l.includes('2048') && !l.includes('sk-new')))
})
