/**
 * Weir's own version and install paths, resolved from this file's location so the same code works
 * from `dist/` in a checkout, in the container image and under `npx`.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Package root: the folder holding package.json, migrations/ and dist/. (This file runs as dist/lib/version.js.) */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Folder of numbered SQL migrations. */
export const MIGRATIONS_DIR = resolve(ROOT, 'migrations')

/** Weir's version from package.json, sent as `x-cc-gateway-version`. */
export const VERSION: string = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** Compiled entry point of an HTTP worker thread. */
export const HTTP_WORKER_FILE = resolve(ROOT, 'dist', 'workers', 'http-worker.js')
