/**
 * Builds each worker's upstream clients from `upstreams`, in failover order. Each worker thread
 * has its own connection pools and its own cached cloud credentials (refreshed before expiry).
 * Providers not implemented never get here: the config loader refuses them by name.
 */
import type { Config } from '../../config/schema.js'
import { anthropicUpstream } from './anthropic.js'
import { anthropicAwsUpstream } from './anthropic-aws.js'
import { bedrockUpstream } from './bedrock.js'
import { foundryUpstream } from './foundry.js'
import { googleCloudUpstream } from './google-cloud.js'
import { mantleUpstream } from './mantle.js'
import { mockUpstream } from './mock.js'
import type { Upstream } from './types.js'
import { vertexUpstream } from './vertex.js'

export function buildUpstreams (config: Readonly<Config>, env: NodeJS.ProcessEnv = process.env): Upstream[] {
  const o = { ttfbMs: config.timeouts.upstream_ttfb_ms, env }
  return config.upstreams.map((u) => {
    switch (u.provider) {
      case 'anthropic': return anthropicUpstream(u, o)
      case 'bedrock': return bedrockUpstream(u, o)
      case 'mantle': return mantleUpstream(u, o)
      case 'anthropicAws': return anthropicAwsUpstream(u, o)
      case 'anthropicGoogleCloud': return googleCloudUpstream(u, o)
      case 'vertex': return vertexUpstream(u, o)
      case 'foundry': return foundryUpstream(u, o)
      case 'mock': return mockUpstream(u)
    }
  })
}
