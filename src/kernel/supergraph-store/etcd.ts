/**
 * Supergraph store in etcd (split mode): every gateway serves the same supergraph, and one
 * aggregator at a time composes it.
 *
 * Layout (etcd v3 API, https://etcd.io/docs/v3.4/learning/api/):
 * - `<prefix>/supergraph/<version>` → {@link StoredSupergraph} JSON, written once per version;
 * - `<prefix>/supergraph/current` → the same JSON for the live version;
 * - `<prefix>/election/<name>/<leaseId>` → candidate ids (etcd3's Election recipe, the same as
 *   the Go client's `concurrency.Election`: the candidate key with the lowest create revision
 *   leads; keys live under the candidate's lease).
 *
 * `publish` is optimistic: it reads `current` (value + mod revision) and commits, in one
 * transaction, the new version key and `current`, guarded by "current's mod revision is still
 * the one read" and "the version key does not exist". A concurrent publisher makes the guard
 * fail; the loser re-reads and retries with the next version, so versions are never reused.
 */

import type { Etcd3, IKeyValue, Watcher, Campaign } from "etcd3";
import { createEtcdClient, errorText, revisionOf, sleep, type EtcdLogger } from "../etcd/client.ts";
import type { Leadership, StoredSupergraph, SupergraphStore } from "./types.ts";

export interface EtcdSupergraphStoreOptions {
  /** etcd client URLs, `http://host:port`. */
  hosts: string[];
  /** Key prefix, without trailing slash (default `"/switchyard"`). */
  prefix?: string;
  /**
   * TTL of a candidate's lease in seconds (integer ≥ 1, default 10): how long a dead leader
   * blocks the election.
   */
  ttlS?: number;
  /** Receives watch and leadership notices. */
  logger?: EtcdLogger;
}

/** `publish` gives up after this many lost races (each retry re-reads `current`). */
const MAX_PUBLISH_ATTEMPTS = 50;

function copyRecord(r: StoredSupergraph): StoredSupergraph {
  return { version: r.version, sdl: r.sdl, subgraphs: { ...r.subgraphs }, composedAt: r.composedAt };
}

/** Parses a stored record. @throws Error when the value is not a valid record. */
function parseRecord(value: Buffer, key: string): StoredSupergraph {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch (err) {
    throw new Error(`supergraph store: ${key} is not JSON: ${errorText(err)}`);
  }
  const r = parsed as Partial<StoredSupergraph> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    !Number.isInteger(r.version) ||
    typeof r.sdl !== "string" ||
    typeof r.composedAt !== "string" ||
    typeof r.subgraphs !== "object" ||
    r.subgraphs === null
  ) {
    throw new Error(`supergraph store: ${key} is not a supergraph record`);
  }
  return copyRecord(r as StoredSupergraph);
}

function checkSubgraphs(subgraphs: Record<string, string>): void {
  if (typeof subgraphs !== "object" || subgraphs === null || Array.isArray(subgraphs)) {
    throw new Error("publish: subgraphs must be an object of name → sha256");
  }
  for (const [name, hash] of Object.entries(subgraphs)) {
    if (typeof hash !== "string") throw new Error(`publish: subgraphs.${name} must be a string`);
  }
}

class EtcdLeadership implements Leadership {
  readonly #campaign: Campaign;
  readonly #lostFns: Array<() => void> = [];
  readonly #onEnd: () => void;
  #leading = true;

  constructor(campaign: Campaign, onEnd: () => void) {
    this.#campaign = campaign;
    this.#onEnd = onEnd;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Registers `fn`; called once if the lease is lost (etcd unreachable longer than the TTL, or revoked). */
  onLost(fn: () => void): void {
    if (this.#leading) this.#lostFns.push(fn);
  }

  /** Lease lost: stops leading, calls the `onLost` callbacks once. */
  lose(logger: EtcdLogger | undefined, err: unknown): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#onEnd();
    logger?.warn({ err: errorText(err) }, "supergraph store: leadership lost");
    void this.#campaign.resign().catch(() => undefined);
    for (const fn of this.#lostFns.splice(0)) {
      try {
        fn();
      } catch (fnErr) {
        logger?.warn({ err: errorText(fnErr) }, "supergraph store: onLost callback failed");
      }
    }
  }

  /** Gives leadership up (revokes the candidate's lease, so the next candidate leads at once). No `onLost`. */
  async resign(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    this.#lostFns.length = 0;
    this.#onEnd();
    await this.#campaign.resign();
  }
}

/** One `watch` on the current key, with catch-up after reconnects. */
class CurrentWatch {
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

  /** Reads `current` and delivers it if newer than the last delivered (changes missed while away). */
  async #catchUp(): Promise<void> {
    for (let delayMs = 100; !this.#stopped; delayMs = Math.min(delayMs * 2, 2000)) {
      try {
        const res = await this.#client.get(this.#key).exec();
        this.#noteRevision(revisionOf(res.header));
        const kv = res.kvs[0];
        if (kv !== undefined) this.#deliver(kv);
        return;
      } catch {
        await sleep(delayMs);
      }
    }
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

interface PendingCampaign {
  readonly campaign: Campaign;
  readonly abort: (err: Error) => void;
}

class EtcdSupergraphStore implements SupergraphStore {
  readonly kind = "etcd";
  readonly #client: Etcd3;
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

  constructor(client: Etcd3, prefix: string, ttlS: number, logger: EtcdLogger | undefined, rev: number) {
    this.#client = client;
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
   * and closes the etcd connection. Idempotent.
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
    this.#client.close();
  }
}

/**
 * Connects to etcd and returns a supergraph store client, after one read that proves etcd answers.
 * @throws Error on bad options, or when etcd is unreachable (at once on a refused connection;
 *   after two attempts with a 5 s deadline each when it does not answer).
 */
export async function createEtcdSupergraphStore(opts: EtcdSupergraphStoreOptions): Promise<SupergraphStore> {
  const ttlS = opts.ttlS ?? 10;
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new Error(`supergraph store: ttlS must be an integer ≥ 1, got ${ttlS}`);
  const prefix = opts.prefix ?? "/switchyard";
  if (!prefix.startsWith("/") || prefix.endsWith("/")) {
    throw new Error(`supergraph store: prefix must start with "/" and not end with "/", got ${JSON.stringify(prefix)}`);
  }
  const client = createEtcdClient({ hosts: opts.hosts });
  try {
    const res = await client.get(`${prefix}/supergraph/current`).exec();
    return new EtcdSupergraphStore(client, prefix, ttlS, opts.logger, revisionOf(res.header));
  } catch (err) {
    client.close();
    throw new Error(`supergraph store: etcd at ${opts.hosts.join(",")} unreachable: ${errorText(err)}`, { cause: err });
  }
}
