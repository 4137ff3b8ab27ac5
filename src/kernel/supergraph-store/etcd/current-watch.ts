import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import { errorText, revisionOf, sleep, type EtcdLogger } from "../../etcd/client.ts";
import { retryUntilDone } from "../../policy/stages.ts";
import type { StoredSupergraph } from "../types.ts";
import { parseRecord } from "./records.ts";

/** One `watch` on the current key, with catch-up after reconnects. */
export class CurrentWatch {
  readonly #client: Etcd3;
  readonly #key: string;
  readonly #fn: (s: StoredSupergraph) => void;
  readonly #logger: EtcdLogger | undefined;
  readonly #noteRevision: (rev: number) => void;
  /** Mod revision of the last record delivered (or the start point): older ones are skipped. */
  #lastRev: number;
  #watcher: Watcher | undefined;
  #disconnected = false;
  #stopped = false;

  constructor(
    client: Etcd3,
    key: string,
    since: number,
    fn: (s: StoredSupergraph) => void,
    logger: EtcdLogger | undefined,
    noteRevision: (rev: number) => void,
  ) {
    this.#client = client;
    this.#key = key;
    this.#fn = fn;
    this.#logger = logger;
    this.#noteRevision = noteRevision;
    this.#lastRev = since;
    this.#open();
  }

  #open(): void {
    if (this.#stopped) return;
    // Own namespace = own etcd3 WatchManager, so a cancelled watch cannot stall other watches.
    const watcher = this.#client
      .namespace("")
      .watch()
      .key(this.#key)
      .startRevision(String(this.#lastRev + 1))
      .watcher();
    this.#watcher = watcher;
    watcher.on("put", (kv) => this.#deliver(kv));
    watcher.on("disconnected", () => {
      this.#disconnected = true;
    });
    watcher.on("connected", () => {
      if (!this.#disconnected || this.#stopped) return;
      this.#disconnected = false;
      void this.#catchUp();
    });
    watcher.on("error", (err) => {
      if (this.#stopped || watcher !== this.#watcher) return;
      this.#watcher = undefined;
      this.#logger?.warn({ err: errorText(err) }, "supergraph store: watch cancelled by etcd, re-reading current");
      void watcher.cancel().catch(() => undefined);
      void this.#catchUp().then(() => this.#open());
    });
  }

  /**
   * Reads `current` and delivers it if newer than the last delivered (changes missed while
   * away); failures are retried with backoff (100 ms doubling to 2 s) until stopped.
   */
  async #catchUp(): Promise<void> {
    await retryUntilDone(
      async () => {
        const res = await this.#client.get(this.#key).exec();
        this.#noteRevision(revisionOf(res.header));
        const kv = res.kvs[0];
        if (kv !== undefined) this.#deliver(kv);
      },
      { initialDelayMs: 100, maxDelayMs: 2000, stopped: () => this.#stopped },
    );
  }

  #deliver(kv: IKeyValue): void {
    const rev = Number(kv.mod_revision);
    this.#noteRevision(rev);
    if (this.#stopped || rev <= this.#lastRev) return;
    this.#lastRev = rev;
    let record: StoredSupergraph;
    try {
      record = parseRecord(kv.value, this.#key);
    } catch (err) {
      this.#logger?.warn({ err: errorText(err) }, "supergraph store: ignoring malformed current");
      return;
    }
    try {
      this.#fn(record);
    } catch (err) {
      this.#logger?.warn({ err: errorText(err) }, "supergraph store: watch callback failed");
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher !== undefined) await Promise.race([watcher.cancel().catch(() => undefined), sleep(1000)]);
  }
}
