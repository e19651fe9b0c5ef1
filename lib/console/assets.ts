/**
 * The console's static files: the bundle `npm run build` writes to dist/console/ (see
 * scripts/build-console.mjs) with content-hashed names listed in dist/console/manifest.json.
 * They are read once, kept in memory and served with `Cache-Control: public, max-age=31536000,
 * immutable` (a new build has new names). Nothing is ever loaded from another origin.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { escapeHtml } from '../http/respond.js'

export interface Asset { readonly body: Buffer, readonly type: string }

export interface Assets {
  /** The hashed names of the entry script and stylesheet. */
  readonly js: string
  readonly css: string
  readonly files: ReadonlyMap<string, Asset>
}

const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml', map: 'application/json' }

let cached: Assets | null | undefined

/** The built assets, or null when the console was not built (the pages then say so). */
export function loadAssets (): Assets | null {
  if (cached !== undefined) return cached
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'console')
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { js: string, css: string, files: string[] }
    const files = new Map<string, Asset>()
    for (const f of m.files) {
      if (!/^[\w.-]+$/.test(f)) continue
      files.set(f, { body: readFileSync(join(dir, f)), type: TYPES[f.split('.').pop() ?? ''] ?? 'application/octet-stream' })
    }
    cached = { js: m.js, css: m.css, files }
  } catch {
    cached = null
  }
  return cached
}

const head = (title: string, a: Assets | null): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>${escapeHtml(title)}</title>
${a !== null ? `<link rel="stylesheet" href="/console/assets/${a.css}">` : ''}</head>`

/** The single-page shell: the app renders into #app. */
export function shellHtml (a: Assets | null): string {
  if (a === null) return messageHtml('Console not built', 'This Weir build has no console assets. Run `npm run build` to build them.', null)
  return `${head('Weir console', a)}<body><a class="skip" href="#main">Skip to content</a><div id="app"></div>
<script type="module" src="/console/assets/${a.js}"></script></body></html>`
}

/** A plain page with a heading, a message and an optional link (refusals, errors). */
export function messageHtml (title: string, message: string, link: { href: string, text: string } | null, a: Assets | null = loadAssets()): string {
  return `${head(`${title} · Weir console`, a)}<body class="plain"><main id="main" class="message">
<p class="brand">Weir</p><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
${link !== null ? `<p><a class="button" href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}</main></body></html>`
}
