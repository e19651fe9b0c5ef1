/**
 * `weir dev --write-client-settings`: put the two managed keys that send Claude Code's `/login` to
 * this gateway into the machine's managed-settings.json, for trying sign-in on one machine.
 *
 * Only with that explicit flag (the file is a system file, normally root-owned). An existing file
 * keeps its other keys; one that is not a JSON object is left alone and reported. The two keys are
 * the same document `weir client-settings` prints.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { MANAGED_SETTINGS_PATHS, buildManagedSettings } from '../cli/client-settings.js'

/** Where Claude Code reads machine-level managed settings on `platform` (Linux path elsewhere). */
export function managedSettingsPath (platform: NodeJS.Platform = process.platform): string {
  const os = platform === 'darwin' ? 'macOS' : platform === 'win32' ? 'Windows' : 'Linux/WSL'
  return (MANAGED_SETTINGS_PATHS.find((p) => p.os === os) ?? MANAGED_SETTINGS_PATHS[1] as { path: string }).path
}

/** The one shell command that installs the settings for `url` (for the README and `weir dev`). */
export function installCommand (url: string, path = managedSettingsPath()): string {
  return `sudo mkdir -p '${dirname(path)}' && npx weir client-settings --url ${url} 2>/dev/null | sudo tee '${path}'`
}

export type WriteResult = { ok: true, created: boolean } | { ok: false, why: string }

/** Write or merge the gateway keys into the managed settings file at `path`. */
export function writeManagedSettings (url: string, path = managedSettingsPath()): WriteResult {
  let doc: Record<string, unknown> = {}
  const existed = existsSync(path)
  try {
    if (existed) {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, why: `${path} is not a JSON object; left unchanged` }
      doc = parsed as Record<string, unknown>
    }
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, JSON.stringify({ ...doc, ...buildManagedSettings(url) }, null, 2) + '\n', { mode: 0o644 })
    return { ok: true, created: !existed }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e instanceof SyntaxError) return { ok: false, why: `${path} is not valid JSON; left unchanged` }
    return { ok: false, why: `cannot write ${path} (${e.code ?? e.message})${e.code === 'EACCES' || e.code === 'EPERM' ? '; run weir dev as an administrator, or use the command below' : ''}` }
  }
}
