/**
 * Builds each worker's upstream clients from `upstreams`, in failover order. Each worker thread
 * has its own connection pools and its own cached cloud credentials (refreshed before expiry).
 * Providers not implemented never get here: the config loader refuses them by name.
 * With `load_test_mode.enabled` every upstream answers from one in-process LoadTestSender
 * (load-test.ts) instead of a connection pool; building checks that none kept a real one.
 */
import type { Config } from '../../config/schema.js'
import { BootError } from '../../errors.js'
import { anthropicUpstream } from './anthropic.js'
import { anthropicAwsUpstream } from './anthropic-aws.js'
import { bedrockUpstream } from './bedrock.js'
import { foundryUpstream } from './foundry.js'
import { googleCloudUpstream } from './google-cloud.js'
import { mantleUpstream } from './mantle.js'
import { mockUpstream } from './mock.js'
import { LoadTestSender } from './load-test.js'
import { CloudSender } from './sender.js'
import type { Sender, Upstream } from './types.js'
import { vertexUpstream } from './vertex.js'

export function buildUpstreams (config: Readonly<Config>, env: NodeJS.ProcessEnv = process.env): Upstream[] {
  const lt = config.load_test_mode
  const loadTest = lt?.enabled === true ? new LoadTestSender(lt) : undefined
  const o = { ttfbMs: config.timeouts.upstream_ttfb_ms, env, ...(loadTest !== undefined ? { loadTest } : {}) }
  const built = config.upstreams.map((u) => {
    switch (u.provider) {
      case 'anthropic': return anthropicUpstream(u, o)
      case 'bedrock': return bedrockUpstream(u, o)
      case 'mantle': return mantleUpstream(u, o)
      case 'anthropicAws': return anthropicAwsUpstream(u, o)
      case 'anthropicGoogleCloud': return googleCloudUpstream(u, o)
      case 'vertex': return vertexUpstream(u, o)
      case 'foundry': return foundryUpstream(u, o)
      case 'mock': return mockUpstream(u, loadTest)
    }
  })
  if (loadTest !== undefined) assertCanned(built, loadTest)
  return built
}

/** Sender of `u` with the CloudSender layer peeled off. */
const innermost = (s: Sender): Sender => s instanceof CloudSender ? innermost(s.inner) : s

/**
 * In load_test_mode no upstream may keep a real connection pool: a provider that bypassed
 * `upstreamDispatcher` would send load to a real model. Refuse to start rather than do that.
 */
function assertCanned (list: readonly Upstream[], canned: Sender): void {
  const real = list.find((u) => innermost(u.dispatcher) !== canned)
  if (real !== undefined) throw new BootError([`load_test_mode: upstream '${real.name}' would still send real model requests (a Weir bug): not starting`])
}
