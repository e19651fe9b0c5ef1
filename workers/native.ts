/**
 * The uWebSockets.js package silently falls back to a slow pure-JavaScript shim when its native
 * binary cannot load (wrong Node ABI, platform or libc). Weir refuses to boot on the shim: the
 * shim lacks SSLApp among other things, which is how it is told apart.
 */
import { createRequire } from 'node:module'
import { BootError } from '../lib/errors.js'

export function assertNativeUws (): void {
  const require = createRequire(import.meta.url)
  let mod: Record<string, unknown>
  try {
    mod = require('uWebSockets.js') as Record<string, unknown>
  } catch (err) {
    throw new BootError([`uWebSockets.js could not be loaded: ${(err as Error).message}`])
  }
  if (process.env.UWS_USE_FALLBACK !== undefined && process.env.UWS_USE_FALLBACK !== '' && process.env.UWS_USE_FALLBACK !== '0') {
    throw new BootError(['UWS_USE_FALLBACK is set: Weir needs the native uWebSockets.js build; unset UWS_USE_FALLBACK'])
  }
  if (typeof mod.SSLApp !== 'function' || typeof mod.us_listen_socket_close !== 'function') {
    throw new BootError([
      `uWebSockets.js loaded its JavaScript fallback instead of the native build for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}). ` +
      'Weir needs the native build: use Node 20 on linux-x64/arm64, macOS or Windows x64.',
    ])
  }
}
