/**
 * The cloud SDKs, loaded by the thread that needs one, when it needs one.
 *
 * Invariant: no module imports google-auth-library, aws4, @smithy/eventstream-codec or
 * @smithy/util-utf8 at its top level (type-only imports aside). Each is loaded through the
 * functions below, which the code building a configured upstream or telemetry destination calls —
 * at boot or on the config reload that adds it, never first on a request. A gateway whose config
 * names no Google, AWS or Bedrock upstream never loads them, in any thread (each loaded copy costs
 * its isolate heap and code space; test/integration/lazy-sdks.test.ts checks the module list per
 * thread). The OpenTelemetry SDK follows the same rule in lib/telemetry/exporter.ts.
 *
 * All four packages are CommonJS, so `require` loads them synchronously at config time without
 * making every builder async; Node caches the module, so a later call is a map lookup. An ESM
 * `import()` of the same package elsewhere (lib/auth/google-groups.ts) gets the same instance.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

type GoogleAuthLibrary = typeof import('google-auth-library')
type Aws4 = typeof import('aws4')
type EventStreamCodecClass = typeof import('@smithy/eventstream-codec').EventStreamCodec
type Utf8 = typeof import('@smithy/util-utf8')

/** google-auth-library (Vertex, Claude Platform on Google Cloud, Google telemetry destinations). */
export function googleAuthLibrary (): GoogleAuthLibrary {
  return require('google-auth-library') as GoogleAuthLibrary
}

/** aws4 (SigV4 for Bedrock, Mantle, Claude Platform on AWS and STS). */
export function aws4 (): Aws4 {
  const m = require('aws4') as Aws4 & { default?: Aws4 }
  return m.default ?? m
}

export interface EventStreamSdk {
  readonly EventStreamCodec: EventStreamCodecClass
  readonly toUtf8: Utf8['toUtf8']
  readonly fromUtf8: Utf8['fromUtf8']
}

/** The AWS event-stream codec and its UTF-8 helpers (Bedrock's streamed replies, load-test mode). */
export function eventStreamSdk (): EventStreamSdk {
  const { EventStreamCodec } = require('@smithy/eventstream-codec') as typeof import('@smithy/eventstream-codec')
  const { toUtf8, fromUtf8 } = require('@smithy/util-utf8') as Utf8
  return { EventStreamCodec, toUtf8, fromUtf8 }
}
