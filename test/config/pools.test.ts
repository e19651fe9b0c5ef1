/**
 * `upstream_pools` (Weir extension): accepted with its defaults, refused at line:column when a pool
 * is malformed or does not fit `upstreams`, and described by `weir validate`.
 */
import t from 'tap'
import { describePools } from '../../lib/config/schema/pools.js'
import { BASE_YAML, parse, refuse } from '../helpers/config.js'

/** BASE_YAML (one anthropic upstream, lines 12-16, named first) plus upstreams a, m, b (lines 17-26) and pools from line 27. */
const UPSTREAMS = `    name: first
  - provider: anthropic
    name: a
    auth:
      api_key: sk-a
  - provider: mock
    name: m
  - provider: anthropic
    name: b
    auth:
      api_key: sk-b
`
const yaml = (pools: string): string => BASE_YAML + UPSTREAMS + pools

t.test('a pool is accepted; weight and cooldowns default; no pool means ordered failover', async (t) => {
  const c = parse(BASE_YAML.replace('  - provider: mock\n', '') + UPSTREAMS.replace('  - provider: mock\n    name: m\n', '') + `upstream_pools:
  - name: fleet
    members:
      - upstream: a
        weight: 2.5
      - upstream: b
`)
  t.same(c.config.upstream_pools, [{ name: 'fleet', members: [{ upstream: 'a', weight: 2.5 }, { upstream: 'b', weight: 1 }], cooldown_seconds: 10, max_cooldown_seconds: 300 }])
  t.equal(parse(BASE_YAML).config.upstream_pools, undefined, 'absent by default')
  const lines = describePools(c.config.upstream_pools, c.config.upstreams)
  t.match(lines[0], /^pool fleet: a \(weight 2\.5, 71% of sessions\), b \(weight 1, 29% of sessions\)/)
  t.equal(lines[1], 'failover order: first → pool fleet (inside a pool, each Claude Code session keeps to one member while it is healthy)')
})

t.test('malformed pools are refused at their line:column', async (t) => {
  const lines = refuse(t, yaml(`upstream_pools:
  - name: fleet
    members:
      - upstream: a
        weight: 0
      - upstream: b
  - name: one
    members:
      - upstream: m
  - name: "bad name"
    members: []
    colour: red
`))
  t.same(lines, [
    'gateway.yaml:31:17 upstream_pools.0.members.0.weight: Expected a number greater than 0, but received: 0',
    'gateway.yaml:35:7 upstream_pools.1.members: needs at least two members: a pool spreads sessions over several upstreams',
    'gateway.yaml:36:11 upstream_pools.2.name: must be 1-64 letters, digits, dots, dashes or underscores',
    'gateway.yaml:37:14 upstream_pools.2.members: needs at least two members: a pool spreads sessions over several upstreams',
    'gateway.yaml:38:5 upstream_pools.2.colour: unknown key',
  ])
})

t.test('pools must fit upstreams: known names, one pool per upstream, members listed together', async (t) => {
  const lines = refuse(t, yaml(`upstream_pools:
  - name: fleet
    members:
      - upstream: a
      - upstream: b
      - upstream: nope
  - name: fleet
    members:
      - upstream: first
      - upstream: a
      - upstream: first
    cooldown_seconds: 30
    max_cooldown_seconds: 5
`))
  t.same(lines, [
    'gateway.yaml:30:7 upstream_pools.0.members: list the members of pool \'fleet\' next to each other in upstreams (the pool takes one place in the failover order); \'m\' sits between them',
    'gateway.yaml:32:19 upstream_pools.0.members.2.upstream: references unknown upstream \'nope\'',
    'gateway.yaml:33:11 upstream_pools.1.name: duplicate pool name \'fleet\': give each pool a distinct name',
    'gateway.yaml:36:19 upstream_pools.1.members.1.upstream: upstream \'a\' is already in pool \'fleet\': an upstream belongs to one pool at most',
    'gateway.yaml:37:19 upstream_pools.1.members.2.upstream: lists upstream \'first\' twice',
    'gateway.yaml:39:27 upstream_pools.1.max_cooldown_seconds: must be at least cooldown_seconds (30)',
  ])
})

t.test('a pool that mixes providers loads with a warning at its members', async (t) => {
  const c = parse(BASE_YAML.replace('  - provider: mock\n', '') + `    name: first
  - provider: bedrock
    name: east
    region: us-east-1
upstream_pools:
  - name: mixed
    members:
      - upstream: first
      - upstream: east
`)
  t.match(c.warnings, [/^gateway\.yaml:23:7 upstream_pools\.0\.members: pool 'mixed' mixes providers \(anthropic, bedrock\)/])
})
