/**
 * Model routing: which upstreams can serve a requested model, in failover order, and under which
 * id each one knows it.
 *
 * For every upstream, in configured order:
 *   1. a `models[]` row that names the model (its `id`, case-insensitively, or the same built-in
 *      family) and maps this upstream in `upstream_model` → that id, sent verbatim;
 *   2. otherwise a built-in model (when `auto_include_builtin_models`, or when a `models[]` row
 *      names it) → the provider's id from the catalog, skipped when the provider lacks the model;
 *   3. otherwise the upstream is skipped, with a reason.
 * When no upstream remains, the request fails with every reason (400). Results are cached per
 * model string (a bounded cache: a flood of distinct model strings evicts the oldest, never a model in
 * steady use), so the hot path pays for resolution once per distinct model.
 */
import { BoundedCache } from '../cache.js'
import type { ModelConfig } from '../config/schema.js'
import { echo } from './echo.js'
import { CATALOG, isFirstPartySpelling, lookupModel, providerModelId, type CatalogEntry } from './catalog.js'

export interface Candidate {
  /** Index into the configured upstream list. */
  readonly upstream: number
  /** The model id to send to that upstream. */
  readonly model: string
  /** True when that id differs from what the client sent (the body's `model` must be rewritten). */
  readonly rewrite: boolean
}

export interface Resolution {
  readonly candidates: readonly Candidate[]
  /** The built-in family, when recognised (keys pricing). */
  readonly entry: CatalogEntry | null
  /** Why each skipped upstream was skipped. */
  readonly reasons: readonly string[]
}

export interface UpstreamRef {
  readonly name: string
  readonly provider: string
  /** `upstreams[].models`: only these client model ids are sent here (case-insensitive, or the same built-in model). */
  readonly models?: readonly string[] | undefined
}

export interface ListedModel { type: 'model', id: string, display_name: string, description?: string }

const MAX_CACHE = 2048

export class ModelRouter {
  private readonly cache = new BoundedCache<string, Resolution>(MAX_CACHE)
  constructor (
    private readonly models: readonly ModelConfig[],
    private readonly autoInclude: boolean,
    private readonly upstreams: readonly UpstreamRef[],
  ) {}

  resolve (model: string): Resolution {
    let r = this.cache.get(model)
    if (r === undefined) {
      r = this.compute(model)
      this.cache.set(model, r)
    }
    return r
  }

  private compute (model: string): Resolution {
    const entry = lookupModel(model)
    const lower = model.trim().toLowerCase()
    const row = this.models.find((m) => m.id.toLowerCase() === lower) ??
      (entry === null ? undefined : this.models.find((m) => lookupModel(m.id) === entry))
    const candidates: Candidate[] = []
    const reasons: string[] = []
    // The reasons end up in the client's 400: the model id is echoed quoted, bounded and escaped.
    const shown = echo(model)
    this.upstreams.forEach((u, i) => {
      if (u.models !== undefined && !u.models.some((x) => x.toLowerCase() === lower || (entry !== null && lookupModel(x) === entry))) {
        reasons.push(`${u.name}: model ${shown} is not in this upstream's models list`)
        return
      }
      const mapped = row?.upstream_model[u.name]
      if (mapped !== undefined) {
        candidates.push({ upstream: i, model: mapped, rewrite: mapped !== model })
        return
      }
      if (entry !== null && (this.autoInclude || row !== undefined)) {
        const id = providerModelId(entry, u.provider)
        if (id === null) { reasons.push(`${u.name}: model ${shown} is not available on ${u.provider}`); return }
        const firstPartyLike = id === entry.firstParty
        const keep = firstPartyLike && isFirstPartySpelling(entry, model)
        candidates.push({ upstream: i, model: keep ? model : id, rewrite: !keep })
        return
      }
      reasons.push(row !== undefined
        ? `${u.name}: model ${shown} has no upstream_model.${u.name} configured`
        : `${u.name}: model ${shown} is not in the operator's model allowlist`)
    })
    return Object.freeze({ candidates: Object.freeze(candidates), entry, reasons: Object.freeze(reasons) })
  }

  /** Every model a client may request, for `/v1/models`: configured rows first, then built-ins. */
  list (): ListedModel[] {
    const out: ListedModel[] = []
    const seen = new Set<CatalogEntry>()
    for (const m of this.models) {
      out.push({ type: 'model', id: m.id, display_name: m.label ?? m.id, ...(m.description !== undefined ? { description: m.description } : {}) })
      const b = lookupModel(m.id)
      if (b !== null) seen.add(b)
    }
    if (this.autoInclude) {
      for (const c of [...CATALOG].reverse()) {
        if (!c.advertised || seen.has(c)) continue
        if (!this.upstreams.some((u) => providerModelId(c, u.provider) !== null)) continue
        out.push({ type: 'model', id: c.firstParty, display_name: c.displayName })
      }
    }
    return out
  }
}
