import type { GroupCommitter, GroupWrite } from "../../../kernel/index.ts";

interface Queued<DB> {
  write: GroupWrite<DB, unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit with at most one batch in flight: writes submitted while a batch runs wait and
 * form the next batch together (submitted to the {@link GroupCommitter} in one turn).
 *
 * Why: on PostgreSQL a batch holds every row lock its writes took until it commits. Two batches
 * of one store running at once take the same hot rows (the products of concurrent checkouts) in
 * interleaved orders, so they wait on each other; PostgreSQL breaks each cycle only after its
 * `deadlock_timeout` (1 s), and the victims' retries meet the next batches: under 50 concurrent
 * checkouts throughput collapsed. One batch at a time leaves cycles only between processes
 * (instances), which the caller retries. On SQLite, batches were serialised by the one
 * connection anyway; only the queueing point moves.
 *
 * @typeParam DB the module's tables.
 */
export class SerialBatches<DB> {
  readonly #group: GroupCommitter<DB>;
  #queue: Queued<DB>[] = [];
  #running = false;

  constructor(group: GroupCommitter<DB>) {
    this.#group = group;
  }

  /**
   * Queues `write` for the next batch.
   * @returns as {@link GroupCommitter.submit}: the write's result once its batch committed, or its
   *   error (rolled back alone), or the batch transaction's error.
   */
  submit<R>(write: GroupWrite<DB, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ write, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#running) {
        this.#running = true;
        void this.#drain();
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Submitted in one synchronous loop: the committer puts them all in one transaction.
        const batch = this.#queue.splice(0);
        await Promise.allSettled(batch.map((q) => this.#group.submit(q.write).then(q.resolve, q.reject)));
      }
    } finally {
      this.#running = false;
    }
  }
}
