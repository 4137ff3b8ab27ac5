/** Callers waiting for one batch, by id. */
type Waiters<V> = Map<string, { resolve: (v: V | null) => void; reject: (err: unknown) => void }>;

/**
 * A per-request batching loader (the DataLoader pattern, reduced to what the catalog needs):
 * `load` calls made in the same tick are collected and fetched with one `fetch(ids)` on the
 * next microtask, and each id is fetched at most once per loader. The gateway resolves many
 * entity references in one `_entities` call; this turns N lookups into one query.
 */
export class BatchLoader<V extends { id: string }> {
  private readonly cache = new Map<string, Promise<V | null>>();
  private batch: Waiters<V> | undefined;

  /** @param fetch returns the values found for `ids` (any order; missing ids resolve to null). */
  constructor(private readonly fetch: (ids: string[]) => Promise<V[]>) {}

  /** Resolves with the value for `id`, or null when it does not exist. */
  load(id: string): Promise<V | null> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    if (!this.batch) {
      const batch: Waiters<V> = new Map();
      this.batch = batch;
      queueMicrotask(() => void this.dispatch(batch));
    }
    const batch = this.batch;
    const promise = new Promise<V | null>((resolve, reject) => batch.set(id, { resolve, reject }));
    this.cache.set(id, promise);
    return promise;
  }

  private async dispatch(batch: Waiters<V>): Promise<void> {
    this.batch = undefined;
    try {
      const found = new Map((await this.fetch([...batch.keys()])).map((v) => [v.id, v]));
      for (const [id, waiter] of batch) waiter.resolve(found.get(id) ?? null);
    } catch (err) {
      for (const [id, waiter] of batch) {
        this.cache.delete(id);
        waiter.reject(err);
      }
    }
  }
}
