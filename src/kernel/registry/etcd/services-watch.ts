import type { IKeyValue, Watcher } from "etcd3";
import { errorText, revisionOf, sleep } from "../../etcd/client.ts";
import { retryUntilDone } from "../../policy/stages.ts";
import type { RegistryEvent, ServiceInstance } from "../types.ts";
import { isCompacted, parseInstance } from "./entries.ts";
import type { Owner } from "./owner.ts";

interface Cached {
  instance: ServiceInstance;
  modRevision: number;
}

/**
 * The etcd watch behind a registry's listeners: keeps the last-seen value of every key, turns
 * etcd events into join/update/leave, and re-lists after reconnects.
 */
export class ServicesWatch {
  readonly #owner: Owner;
  readonly #prefix: string;
  readonly #emit: (type: RegistryEvent["type"], instance: ServiceInstance, rev: number) => void;
  readonly #cache = new Map<string, Cached>();
  /** The last list reflects every change up to this revision: watch events not newer are skipped. */
  #listedRev = 0;
  /** Revision of the newest watch event applied: a list older than this is stale. */
  #eventRev = 0;
  #watcher: Watcher | undefined;
  /** Watch events held back while a list is in flight; null when none is. */
  #held: Array<() => void> | null = [];
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  #disconnected = false;
  #stopped = false;

  constructor(
    owner: Owner,
    prefix: string,
    startRev: number,
    emit: (type: RegistryEvent["type"], instance: ServiceInstance, rev: number) => void,
  ) {
    this.#owner = owner;
    this.#prefix = prefix;
    this.#emit = emit;
    void this.#start(startRev);
  }

  async #start(startRev: number): Promise<void> {
    await this.#sync(startRev);
    this.#openWatcher();
  }

  #openWatcher(): void {
    if (this.#stopped) return;
    // A namespace of its own gives this watch its own etcd3 WatchManager (one gRPC stream), so a
    // watch the server cancelled cannot leave a shared manager stuck.
    const watcher = this.#owner.client
      .namespace("")
      .watch()
      .prefix(this.#prefix)
      .withPreviousKV()
      .startRevision(String(this.#listedRev + 1))
      .watcher();
    this.#watcher = watcher;
    // Handlers are attached synchronously (watcher(), not create()) so no event can slip by.
    watcher.on("put", (kv, prev) => this.#onEvent("put", kv, prev));
    watcher.on("delete", (kv, prev) => this.#onEvent("delete", kv, prev));
    watcher.on("disconnected", () => {
      this.#disconnected = true;
    });
    watcher.on("connected", () => {
      if (!this.#disconnected || this.#stopped) return;
      this.#disconnected = false;
      // etcd3 replays from the last revision it saw; the re-list also covers events it missed.
      this.#owner.logger?.info({ prefix: this.#prefix }, "registry: watch reconnected, re-listing");
      void this.#sync(undefined);
    });
    watcher.on("error", (err) => {
      // The server cancelled the watch (e.g. its start revision was compacted): re-list, re-open.
      if (this.#stopped || watcher !== this.#watcher) return;
      this.#watcher = undefined;
      this.#owner.logger?.warn({ err: errorText(err) }, "registry: watch cancelled by etcd, re-listing");
      void watcher.cancel().catch(() => undefined);
      void this.#sync(undefined).then(() => this.#openWatcher());
    });
  }

  /**
   * Lists the prefix (at revision `atRev`, or now) and makes the cache match it; after the first
   * list, the differences are emitted as join/update/leave. Retries until it succeeds or the watch
   * stops; concurrent calls share one run (which lists again if asked meanwhile). Watch events
   * arriving meanwhile are held and applied afterwards (those not newer than the list are dropped
   * as already reflected).
   */
  #sync(atRev: number | undefined): Promise<void> {
    this.#held ??= [];
    if (this.#syncing !== undefined) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    const run = async (): Promise<void> => {
      let at = atRev;
      do {
        this.#syncAgain = false;
        await this.#listOnce(at);
        at = undefined;
      } while (this.#syncAgain && !this.#stopped);
      this.#syncing = undefined;
      const held = this.#held ?? [];
      this.#held = null;
      for (const apply of held) apply();
    };
    this.#syncing = run();
    return this.#syncing;
  }

  /** Lists once, retrying failures with backoff (100 ms doubling to 2 s) until done or stopped. */
  async #listOnce(atRev: number | undefined): Promise<void> {
    let at = atRev;
    const list = async (): Promise<void> => {
      const range = this.#owner.client.getAll().prefix(this.#prefix);
      if (at !== undefined) range.revision(at);
      const res = await range.exec();
      this.#owner.noteRevision(revisionOf(res.header));
      if (!this.#stopped) this.#applyList(res.kvs, at ?? revisionOf(res.header), this.#listedRev > 0);
    };
    await retryUntilDone(
      async () => {
        try {
          await list();
        } catch (err) {
          if (at === undefined || !isCompacted(err)) throw err;
          at = undefined; // that history is gone: start from the current state
          await list();
        }
      },
      {
        initialDelayMs: 100,
        maxDelayMs: 2000,
        stopped: () => this.#stopped,
        onFailure: (err, attempt) => {
          if (attempt === 1 || attempt % 20 === 0) {
            this.#owner.logger?.warn({ attempt, err: errorText(err) }, "registry: listing for watch failed, retrying");
          }
        },
      },
    );
  }

  #applyList(kvs: IKeyValue[], rev: number, diff: boolean): void {
    if (rev < this.#listedRev || rev < this.#eventRev) return; // older than what the cache holds
    const seen = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString("utf8");
      const instance = parseInstance(kv.value, this.#owner.logger, key);
      if (instance === null) continue;
      seen.add(key);
      const modRevision = Number(kv.mod_revision);
      const cached = this.#cache.get(key);
      this.#cache.set(key, { instance, modRevision });
      if (!diff) continue;
      if (cached === undefined) this.#emit("join", instance, modRevision);
      else if (cached.modRevision < modRevision) this.#emit("update", instance, modRevision);
    }
    for (const [key, cached] of [...this.#cache]) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      if (diff) this.#emit("leave", cached.instance, rev);
    }
    this.#listedRev = rev;
  }

  #onEvent(type: "put" | "delete", kv: IKeyValue, prev: IKeyValue | undefined): void {
    if (this.#stopped) return;
    if (this.#held !== null) {
      this.#held.push(() => this.#apply(type, kv, prev));
      return;
    }
    this.#apply(type, kv, prev);
  }

  #apply(type: "put" | "delete", kv: IKeyValue, prev: IKeyValue | undefined): void {
    if (this.#stopped) return;
    // For a delete event, kv.mod_revision is the revision of the delete.
    const rev = Number(kv.mod_revision);
    this.#owner.noteRevision(rev);
    if (rev <= this.#listedRev) return;
    if (rev > this.#eventRev) this.#eventRev = rev;
    const key = kv.key.toString("utf8");
    const cached = this.#cache.get(key);
    if (type === "put") {
      if (cached !== undefined && cached.modRevision >= rev) return;
      const instance = parseInstance(kv.value, this.#owner.logger, key);
      if (instance === null) return;
      this.#cache.set(key, { instance, modRevision: rev });
      this.#emit(cached === undefined ? "join" : "update", instance, rev);
      return;
    }
    if (cached === undefined) return; // never known (or already reported gone by a re-list)
    this.#cache.delete(key);
    const last = prev === undefined || prev === null ? null : parseInstance(prev.value, undefined, key);
    this.#emit("leave", last ?? cached.instance, rev);
  }

  /** Stops the etcd watch; waits at most 1 s for etcd to confirm the cancel. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#held = null;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher === undefined) return;
    await Promise.race([watcher.cancel().catch(() => undefined), sleep(1000)]);
  }
}
