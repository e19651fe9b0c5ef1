/**
 * Environment knobs for a gateway started in this process (lib/runtime-env.ts): the primary reads
 * them once per process and hands them to its workers, so a test that needs another value (a short
 * ping interval) installs it before starting its gateway, and the teardown puts the old one back.
 */
import type { Test } from 'tap'
import { readRuntimeEnv, runtimeEnv, setRuntimeEnv } from '../../lib/runtime-env.js'

export function withRuntimeEnv (t: Test, vars: Record<string, string>): void {
  const before = runtimeEnv()
  setRuntimeEnv(readRuntimeEnv({ ...process.env, ...vars }))
  t.teardown(() => { setRuntimeEnv(before) })
}
