/**
 * Piscina task file (runs in the primary's pool, `lib/workers-pool.ts`): stamp one relayed OTLP
 * body with verified identity and hand the new bytes back without copying them; read the Claude
 * Code analytics out of a metrics body (`extract`).
 */
import { fileURLToPath } from 'node:url'
import { move } from 'piscina'
import { type StampInput, stampBatch } from './otlp.js'
import { type CodePoint, type ExtractInput, extractCodePoints } from './cc-metrics.js'

/** Absolute path of this file once compiled, for `PoolLease.run`. */
export const STAMP_TASK_FILE = fileURLToPath(import.meta.url)

export function stamp (task: StampInput): ArrayBuffer {
  const out = stampBatch(task)
  const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
    ? out.buffer as ArrayBuffer
    : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer
  return move(own) as ArrayBuffer
}

/** The Claude Code analytics points of one relayed metrics body (`cc-metrics.ts`). */
export function extract (task: ExtractInput): CodePoint[] {
  return extractCodePoints(task)
}
