import type { Campaign, Etcd3 } from "etcd3";
import { errorText, revisionOf, sleep, type EtcdLogger } from "../../etcd/client.ts";
import type { Leadership, StoredSupergraph, SupergraphStore } from "../types.ts";
import { CurrentWatch } from "./current-watch.ts";
import { EtcdLeadership } from "./leadership.ts";
import { checkSubgraphs, parseRecord } from "./records.ts";

/** `publish` gives up after this many lost races (each retry re-reads `current`). */
const MAX_PUBLISH_ATTEMPTS = 50;

interface PendingCampaign {
  readonly campaign: Campaign;
  readonly abort: (err: Error) => void;
}

/** A supergraph store client over etcd (layout and guarantees: see `../etcd.ts`). */
export class EtcdSupergraphStore implements SupergraphStore {
  readonly kind = "etcd";
  readonly #client: Etcd3;
  /** Whether this store created its client (and closes it) or shares the process's. */
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #currentKey: string;
  readonly #ttlS: number;
  readonly #logger: EtcdLogger | undefined;
  readonly #watches = new Set<CurrentWatch>();
  readonly #pending = new Set<PendingCampaign>();
  readonly #leaderships = new Set<EtcdLeadership>();
  /** Highest store revision this client has seen: where a new `watch` starts. */
  #rev: number;
  #closed = false;

  constructor(client: Etcd3, ownsClient: boolean, prefix: string, ttlS: number, logger: EtcdLogger | undefined, rev: number) {
    this.#client = client;
    this.#ownsClient = ownsClient;
    this.#prefix = prefix;
    this.#currentKey = `${prefix}/supergraph/current`;
    this.#ttlS = ttlS;
    this.#logger = logger;
    this.#rev = rev;
  }

  readonly #noteRevision = (rev: number): void => {
    if (rev > this.#rev) this.#rev = rev;
  };

  #checkOpen(): void {
    if (this.#closed) throw new Error("supergraph store is closed");
  }

  /** @throws Error when closed, when etcd fails, or when `current` holds something else than a record. */
  async current(): Promise<StoredSupergraph | null> {
    this.#checkOpen();
    const res = await this.#client.get(this.#currentKey).exec();
    this.#noteRevision(revisionOf(res.header));
    const kv = res.kvs[0];
    return kv === undefined ? null : parseRecord(kv.value, this.#currentKey);
  }

  /**
   * Stores a new version (current + 1) and moves `current` to it in one transaction; retries
   * (re-reading `current`) when another publisher got there first.
   * @throws Error when closed, on an empty SDL, when etcd fails, or after 50 lost races.
   */
  async publish(sdl: string, subgraphs: Record<string, string>): Promise<StoredSupergraph> {
    this.#checkOpen();
    if (typeof sdl !== "string" || sdl.length === 0) throw new Error("publish: sdl must be a non-empty string");
    checkSubgraphs(subgraphs);
    for (let attempt = 1; attempt <= MAX_PUBLISH_ATTEMPTS; attempt++) {
      const cur = await this.#client.get(this.#currentKey).exec();
      this.#noteRevision(revisionOf(cur.header));
      const kv = cur.kvs[0];
      const previous = kv === undefined ? 0 : parseRecord(kv.value, this.#currentKey).version;
      const record: StoredSupergraph = {
        version: previous + 1,
        sdl,
        subgraphs: { ...subgraphs },
        composedAt: new Date().toISOString(),
      };
      const json = JSON.stringify(record);
      const versionKey = `${this.#prefix}/supergraph/${record.version}`;
      const guard =
        kv === undefined
          ? this.#client.if(this.#currentKey, "Create", "==", 0)
          : this.#client.if(this.#currentKey, "Mod", "==", kv.mod_revision);
      const res = await guard
        .and(versionKey, "Create", "==", 0)
        .then(this.#client.put(versionKey).value(json), this.#client.put(this.#currentKey).value(json))
        .commit();
      this.#noteRevision(revisionOf(res.header));
      if (res.succeeded) return record;
      // Lost the race: back off a little (jittered, so two losers do not collide again).
      await sleep(Math.random() * Math.min(5 * attempt, 50));
    }
    throw new Error(`publish: gave up after ${MAX_PUBLISH_ATTEMPTS} conflicting attempts`);
  }

  /**
   * Calls `fn` for every change of `current` after the last revision this client has seen (so
   * `current()` then `watch()` misses nothing in between); re-reads `current` after reconnects.
   */
  watch(fn: (s: StoredSupergraph) => void): () => void {
    if (this.#closed) return () => {};
    const w = new CurrentWatch(this.#client, this.#currentKey, this.#rev, fn, this.#logger, this.#noteRevision);
    this.#watches.add(w);
    return () => {
      if (!this.#watches.delete(w)) return;
      void w.stop();
    };
  }

  /**
   * Joins the election `<prefix>/election/<name>/` with a lease of `ttlS` seconds (etcd3's
   * Election API) and resolves once this candidate leads.
   * @throws Error (rejects) when closed, on a bad name/candidate, when the lease cannot be granted
   *   or is lost while waiting, or when the store is closed while waiting.
   */
  campaign(name: string, candidateId: string): Promise<Leadership> {
    if (this.#closed) return Promise.reject(new Error("supergraph store is closed"));
    if (typeof name !== "string" || name.length === 0 || name.includes("/")) {
      return Promise.reject(new Error("campaign: name must be a non-empty string without '/'"));
    }
    if (typeof candidateId !== "string" || candidateId.length === 0) {
      return Promise.reject(new Error("campaign: candidateId must be a non-empty string"));
    }
    const campaign = this.#client.namespace(`${this.#prefix}/`).election(name, this.#ttlS).campaign(candidateId);
    return new Promise<Leadership>((resolve, reject) => {
      let leadership: EtcdLeadership | undefined;
      let settled = false;
      const pending: PendingCampaign = {
        campaign,
        abort: (err) => {
          if (settled) return;
          settled = true;
          this.#pending.delete(pending);
          void campaign.resign().catch(() => undefined);
          reject(err);
        },
      };
      this.#pending.add(pending);
      campaign.on("elected", () => {
        // etcd3 can still report `elected` after resign (its wait loop ends when the previous
        // leader goes): only a campaign still waiting becomes leader.
        if (settled) return;
        settled = true;
        this.#pending.delete(pending);
        const l = new EtcdLeadership(campaign, () => this.#leaderships.delete(l));
        leadership = l;
        this.#leaderships.add(l);
        resolve(l);
      });
      campaign.on("error", (err) => {
        if (leadership !== undefined) leadership.lose(this.#logger, err);
        else pending.abort(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Stops watches, rejects pending campaigns, resigns this store's leaderships (no `onLost`)
   * and closes the etcd connection unless it is shared (its owner closes it). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watches = [...this.#watches];
    this.#watches.clear();
    await Promise.all(watches.map((w) => w.stop()));
    for (const p of [...this.#pending]) p.abort(new Error("supergraph store closed while campaigning"));
    for (const l of [...this.#leaderships]) {
      await l
        .resign()
        .catch((err: unknown) =>
          this.#logger?.warn({ err: errorText(err) }, "supergraph store: resign on close failed; the lease will expire"),
        );
    }
    if (this.#ownsClient) this.#client.close();
  }
}
