/**
 * In-process supergraph store: the default in single-binary mode and the reference the etcd
 * store is tested against (tests/kernel/supergraph-store.test.ts).
 *
 * A {@link MemorySupergraphBackend} plays the part of the etcd cluster; each store created on it
 * is one client. Without a backend, a store gets a private one. Leadership is a FIFO queue per
 * election name: the first candidate leads at once, the next one leads when the leader resigns or
 * its store is closed. Records are deep-copied in and out; `watch` callbacks run from a microtask.
 */

import { type LogSink, safeLog } from "../logger.ts";
import type { Leadership, StoredSupergraph, SupergraphStore } from "./types.ts";

/** Shared state several memory stores can use (the in-memory stand-in for an etcd cluster). */
export interface MemorySupergraphBackend {
  readonly kind: "memory-supergraph-backend";
}

export interface MemorySupergraphStoreOptions {
  /** Share versions, `current` and elections with other stores on the same backend. */
  backend?: MemorySupergraphBackend;
  /** Receives errors thrown by `watch` callbacks; they are dropped without one. */
  logger?: Pick<LogSink, "warn">;
}

function copyRecord(r: StoredSupergraph): StoredSupergraph {
  return { version: r.version, sdl: r.sdl, subgraphs: { ...r.subgraphs }, composedAt: r.composedAt };
}

interface Candidate {
  readonly id: string;
  /** Called when this candidate becomes leader. */
  readonly elect: () => void;
  /** Rejects the pending `campaign` promise (store closed while waiting). */
  readonly abort: (err: Error) => void;
}

interface WatchEntry {
  readonly fn: (s: StoredSupergraph) => void;
  readonly report: (err: unknown) => void;
  active: boolean;
}

class Backend implements MemorySupergraphBackend {
  readonly kind = "memory-supergraph-backend";
  readonly versions = new Map<number, StoredSupergraph>();
  current: StoredSupergraph | null = null;
  readonly watchers = new Set<WatchEntry>();
  /** Election name → candidates in arrival order; the first one leads. */
  readonly elections = new Map<string, Candidate[]>();

  publish(sdl: string, subgraphs: Record<string, string>): StoredSupergraph {
    const record: StoredSupergraph = {
      version: (this.current?.version ?? 0) + 1,
      sdl,
      subgraphs: { ...subgraphs },
      composedAt: new Date().toISOString(),
    };
    this.versions.set(record.version, record);
    this.current = record;
    // Watchers present now get it, later ones do not (like an etcd watch started afterwards).
    for (const w of [...this.watchers]) {
      queueMicrotask(() => {
        if (!w.active) return;
        try {
          w.fn(copyRecord(record));
        } catch (err) {
          w.report(err);
        }
      });
    }
    return record;
  }
}

/** Creates a backend that several memory stores can share. */
export function createMemorySupergraphBackend(): MemorySupergraphBackend {
  return new Backend();
}

class MemoryLeadership implements Leadership {
  readonly #release: () => void;
  #leading = true;

  constructor(release: () => void) {
    this.#release = release;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Never called in memory: without leases, leadership only ends by `resign` or `close`. */
  onLost(_fn: () => void): void {}

  /** Ends leadership without calling `onLost` (store close). */
  end(): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#release();
  }

  async resign(): Promise<void> {
    this.end();
  }
}

class MemorySupergraphStore implements SupergraphStore {
  readonly kind = "memory";
  readonly #backend: Backend;
  readonly #logger: MemorySupergraphStoreOptions["logger"];
  readonly #watches = new Set<WatchEntry>();
  readonly #leaderships = new Set<MemoryLeadership>();
  readonly #waiting = new Set<Candidate>();
  #closed = false;

  constructor(backend: Backend, logger: MemorySupergraphStoreOptions["logger"]) {
    this.#backend = backend;
    this.#logger = logger;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("supergraph store is closed");
  }

  /** @throws Error when closed. */
  async current(): Promise<StoredSupergraph | null> {
    this.#checkOpen();
    const cur = this.#backend.current;
    return cur === null ? null : copyRecord(cur);
  }

  /** Stores version current + 1 and makes it current. @throws Error when closed or on an empty SDL. */
  async publish(sdl: string, subgraphs: Record<string, string>): Promise<StoredSupergraph> {
    this.#checkOpen();
    if (typeof sdl !== "string" || sdl.length === 0) throw new Error("publish: sdl must be a non-empty string");
    return copyRecord(this.#backend.publish(sdl, subgraphs));
  }

  /** Calls `fn` (from a microtask) for every later publish on the backend; a no-op when closed. */
  watch(fn: (s: StoredSupergraph) => void): () => void {
    if (this.#closed) return () => {};
    const entry: WatchEntry = {
      fn,
      active: true,
      report: (err) => {
        // safeLog: a failing logger must not break delivery to other watchers.
        safeLog(this.#logger, "warn", { err }, "supergraph store: watch callback failed");
      },
    };
    this.#backend.watchers.add(entry);
    this.#watches.add(entry);
    return () => {
      entry.active = false;
      this.#backend.watchers.delete(entry);
      this.#watches.delete(entry);
    };
  }

  /** Resolves at once for the first candidate of `name`; later ones wait for the leader to go. */
  campaign(name: string, candidateId: string): Promise<Leadership> {
    if (this.#closed) return Promise.reject(new Error("supergraph store is closed"));
    return new Promise<Leadership>((resolve, reject) => {
      const queue = this.#backend.elections.get(name) ?? [];
      this.#backend.elections.set(name, queue);
      const candidate: Candidate = {
        id: candidateId,
        elect: () => {
          this.#waiting.delete(candidate);
          const leadership = new MemoryLeadership(() => {
            this.#leaderships.delete(leadership);
            this.#leave(name, candidate);
          });
          this.#leaderships.add(leadership);
          resolve(leadership);
        },
        abort: (err) => {
          this.#waiting.delete(candidate);
          this.#leave(name, candidate);
          reject(err);
        },
      };
      queue.push(candidate);
      if (queue.length === 1) candidate.elect();
      else this.#waiting.add(candidate);
    });
  }

  /** Removes `candidate` from the queue of `name`; elects the next one if it was leading. */
  #leave(name: string, candidate: Candidate): void {
    const queue = this.#backend.elections.get(name);
    if (queue === undefined) return;
    const wasLeader = queue[0] === candidate;
    const i = queue.indexOf(candidate);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.#backend.elections.delete(name);
    else if (wasLeader) queue[0]?.elect();
  }

  /** Stops watches, ends this store's leaderships (no `onLost`), rejects its pending campaigns. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watches) {
      w.active = false;
      this.#backend.watchers.delete(w);
    }
    this.#watches.clear();
    for (const c of [...this.#waiting]) c.abort(new Error("supergraph store closed while campaigning"));
    for (const l of [...this.#leaderships]) l.end();
  }
}

/** Creates an in-memory supergraph store (on `opts.backend`, or a private backend). */
export function createMemorySupergraphStore(opts?: MemorySupergraphStoreOptions): SupergraphStore {
  const backend = opts?.backend ?? new Backend();
  if (!(backend instanceof Backend)) throw new Error("backend must come from createMemorySupergraphBackend()");
  return new MemorySupergraphStore(backend, opts?.logger);
}
