import type { Etcd3 } from "etcd3";
import type { EtcdLogger } from "../../etcd/client.ts";
import type { Registration } from "../types.ts";

/** What registrations and the watch need from their registry. */
export interface Owner {
  readonly client: Etcd3;
  readonly ttlS: number;
  readonly logger: EtcdLogger | undefined;
  readonly closed: boolean;
  /** Records a revision this client has seen (the watch start point). */
  noteRevision(rev: number): void;
  /** Drops a registration that was deregistered. */
  forget(reg: Registration): void;
}
