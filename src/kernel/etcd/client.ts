/**
 * The etcd v3 client of a process, shared by the etcd registry and the etcd supergraph store
 * (one gRPC connection per host and process, see `transports.ts`).
 *
 * etcd3 (npm) talks gRPC to the etcd v3 API (https://etcd.io/docs/v3.4/learning/api/). Its
 * fault handling is built from the call policy's stages (kernel/policy): a breaker per host and
 * a retry of recoverable errors around every call. Its defaults suit long-lived servers badly
 * after an etcd outage (a host breaker that stays open 5 s after 3 failures, a watch reconnect
 * backoff of up to 30 s): we shorten both so that watchers and leases recover within about a
 * second of etcd coming back, and give every unary call a deadline (the timeout stage) so that
 * nothing waits forever on an unreachable cluster.
 *
 * In a `bun build --compile` binary, etcd3's `.proto` files are not on disk: scripts/build.ts
 * replaces etcd3's run-time proto loading with a descriptor embedded at build time.
 */

import { Etcd3, isRecoverableError, type IOptions, type IResponseHeader } from "etcd3";
import type { LogSink } from "../logger.ts";
import { exponentialBackoff, transportBreaker, transportRetry } from "../policy/stages.ts";

/** The levels of the kernel's logger the etcd stores use. */
export type EtcdLogger = Pick<LogSink, "info" | "warn">;

export interface EtcdClientOptions {
  /** Client URLs, `http://host:port` (or `https://`), at least one. */
  hosts: string[];
  /** Deadline of each unary call, ms (default 5000). Streams (watch, keepalive) have none. */
  callTimeoutMs?: number;
}

/**
 * Where an etcd store gets its connection: `hosts` (a client of its own, closed with the store)
 * or `client` (a client shared with the other stores of the process, closed by its owner).
 */
export interface EtcdConnectionOptions {
  /** etcd client URLs, `http://host:port`; ignored when `client` is given. */
  hosts?: string[];
  /** A shared client (from {@link createEtcdClient}); the store never closes it. */
  client?: Etcd3;
}

const HOST_URL = /^https?:\/\/[^\s/]+:\d{1,5}$/;

/**
 * Validates etcd client URLs.
 * @throws Error naming the bad entry when `hosts` is empty or an entry is not `http(s)://host:port`.
 */
export function checkEtcdHosts(hosts: readonly string[]): void {
  if (!Array.isArray(hosts) || hosts.length === 0) throw new Error("etcd: hosts must be a non-empty array");
  for (const host of hosts) {
    if (typeof host !== "string" || !HOST_URL.test(host)) {
      throw new Error(`etcd: host ${JSON.stringify(host)} is not http(s)://host:port`);
    }
  }
}

/** etcd3's "worth retrying / counts against the host" errors (unavailable, deadline, ...). */
const recoverable = (err: unknown): boolean => err instanceof Error && isRecoverableError(err);

/** Creates an etcd3 client (one gRPC connection per host, opened lazily on first call). */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  checkEtcdHosts(opts.hosts);
  const callTimeoutMs = opts.callTimeoutMs ?? 5000;
  const options: IOptions = {
    hosts: [...opts.hosts],
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // Re-probe a failed host after 500 ms instead of 5 s: one-member clusters have no other host.
      host: () => transportBreaker(recoverable, { failures: 3, resetMs: 500 }),
      global: transportRetry(recoverable, { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 500 }),
      // etcd3 calls `.next()` on this for the first delay (it was typed for cockatiel 2), so pass
      // an IBackoff state, not the factory.
      watchBackoff: exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000 }).next(),
    },
  };
  return new Etcd3(options);
}

/**
 * The client of a store: the shared one when given (`owned: false`), else a new one from `hosts`
 * (`owned: true`: the store closes it).
 * @throws Error on bad hosts, or when neither `client` nor `hosts` is given.
 */
export function etcdClientFor(opts: EtcdConnectionOptions): { client: Etcd3; owned: boolean } {
  if (opts.client !== undefined) return { client: opts.client, owned: false };
  if (opts.hosts === undefined) throw new Error("etcd: hosts or client required");
  return { client: createEtcdClient({ hosts: opts.hosts }), owned: true };
}

/**
 * The store revision of a response header as a number. Revisions are int64 on the wire (strings
 * here); a cluster would need 2^53 writes to lose precision.
 */
export function revisionOf(header: IResponseHeader | { revision: string }): number {
  return Number(header.revision);
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `err` as a loggable string. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
