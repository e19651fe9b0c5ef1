/**
 * `weir serve --watch`: notice that gateway.yaml changed and ask for a reload.
 *
 * Invariants:
 * - The directory holding the file is watched, not the file: an editor's rename-over and the
 *   symlink swap Kubernetes does for a mounted ConfigMap or Secret (`..data` → a new timestamped
 *   directory) replace the inode, which a watch on the file itself would miss. A slow poll backs
 *   the watch up on filesystems that deliver no events.
 * - A reload is asked for only when the file's content checksum differs from the last one seen
 *   (events are coalesced), so touching the file or swapping in identical content does nothing.
 * - A file that cannot be read right now (mid-swap) is not a change; the next event or poll retries.
 */
import { createHash } from 'node:crypto'
import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { dirname } from 'node:path'
import { describeError, ops } from '../log.js'

export interface WatchOptions {
  /** Coalesce bursts of events, ms (default 250). */
  settleMs?: number
  /** Re-check even without events, ms (default 2000). */
  pollMs?: number
}

function checksum (path: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex')
  } catch {
    return null
  }
}

/** Call `onChange` whenever the content of `path` changes. Returns a stop function. */
export function watchConfig (path: string, onChange: () => void, o: WatchOptions = {}): () => void {
  let seen = checksum(path)
  let timer: NodeJS.Timeout | null = null
  const check = (): void => {
    timer = null
    const now = checksum(path)
    if (now === null || now === seen) return
    seen = now
    onChange()
  }
  const soon = (): void => { if (timer === null) { timer = setTimeout(check, o.settleMs ?? 250); timer.unref() } }
  let watcher: FSWatcher | null = null
  try {
    watcher = watch(dirname(path), { persistent: false }, soon)
    watcher.on('error', (err) => { ops.warn(`--watch: watching ${dirname(path)} failed (${describeError(err)}); polling only`); watcher?.close(); watcher = null })
  } catch (err) {
    ops.warn(`--watch: cannot watch ${dirname(path)} (${describeError(err)}); polling only`)
  }
  const poll = setInterval(soon, o.pollMs ?? 2000)
  poll.unref()
  return () => {
    watcher?.close()
    clearInterval(poll)
    if (timer !== null) clearTimeout(timer)
  }
}
