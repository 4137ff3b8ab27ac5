import type { Campaign } from "etcd3";
import { errorText, type EtcdLogger } from "../../etcd/client.ts";
import type { Leadership } from "../types.ts";

/** This candidate's leadership of an etcd election (etcd3's Campaign), until lost or resigned. */
export class EtcdLeadership implements Leadership {
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
