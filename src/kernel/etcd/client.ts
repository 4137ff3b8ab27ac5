/**
 * The etcd v3 client settings shared by the etcd registry and the etcd supergraph store.
 *
 * etcd3 (npm) talks gRPC to the etcd v3 API (https://etcd.io/docs/v3.4/learning/api/). Its
 * defaults suit long-lived servers badly after an etcd outage: a host circuit breaker that stays
 * open 5 s after 3 failures and a watch reconnect backoff of up to 30 s. We shorten both so that
 * watchers and leases recover within about a second of etcd coming back, and give every unary
 * call a deadline so that nothing waits forever on an unreachable cluster.
 *
 * In a `bun build --compile` binary, etcd3's `.proto` files are not on disk: scripts/build.ts
 * replaces etcd3's run-time proto loading with a descriptor embedded at build time.
 */

import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { Etcd3, isRecoverableError, type IOptions, type IResponseHeader } from "etcd3";

/** The subset of a pino logger the etcd stores use. */
export interface EtcdLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EtcdClientOptions {
  /** Client URLs, `http://host:port` (or `https://`), at least one. */
  hosts: string[];
  /** Deadline of each unary call, ms (default 5000). Streams (watch, keepalive) have none. */
  callTimeoutMs?: number;
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

/** Creates an etcd3 client (one gRPC connection per host, opened lazily on first call). */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  checkEtcdHosts(opts.hosts);
  const callTimeoutMs = opts.callTimeoutMs ?? 5000;
  const options: IOptions = {
    hosts: [...opts.hosts],
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // Re-probe a failed host after 500 ms instead of 5 s: one-member clusters have no other host.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 2,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      // etcd3 calls `.next()` on this for the first delay (it was typed for cockatiel 2), so pass
      // an IBackoff state, not the factory.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next(),
    },
  };
  return new Etcd3(options);
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
