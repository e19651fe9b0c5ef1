/**
 * One small bounded cache for the memo tables that key on what clients send (models, principals,
 * tokens, query strings): a `Map` that never holds more than `max` entries. Setting a new key when
 * full evicts the oldest entry (first set, or first refreshed with `get`), so one flood of
 * distinct keys cannot grow memory and a key in steady use stays. A hit moves the entry to the
 * young end only once the cache is at least half full (below that nothing is evicted soon), so a
 * small working set is not reshuffled on every request.
 *
 * Values are what the caller computed from the key, so an evicted entry costs one recomputation,
 * never a wrong answer.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>()
  private readonly max: number

  constructor (max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`BoundedCache size must be a positive integer, got ${max}`)
    this.max = max
  }

  get size (): number { return this.map.size }

  has (key: K): boolean { return this.map.has(key) }

  /** The value for `key`, or undefined. A hit counts as a use (the entry is evicted later). */
  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined && this.map.size > 1 && this.map.size >= this.max / 2) {
      // Re-insert: a Map iterates in insertion order, so this makes it the youngest.
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  /** Store `value` under `key`, evicting the oldest entry when a new key would exceed the bound. */
  set (key: K, value: V): this {
    if (!this.map.has(key) && this.map.size >= this.max) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
    this.map.set(key, value)
    return this
  }

  delete (key: K): boolean { return this.map.delete(key) }

  clear (): void { this.map.clear() }

  /** Every entry, oldest first (for sweeps that drop stale entries). */
  entries (): IterableIterator<[K, V]> { return this.map.entries() }
}
