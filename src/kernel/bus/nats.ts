/**
 * NATS bus transport (split mode): connects to a real nats-server with the `nats` client (nats.js
 * v2) and returns the {@link Bus} over it. It passes the same contract suite as the memory
 * transport (tests/contract/bus.contract.ts); the differences left are NATS's own:
 * - header values are trimmed and may not contain CR/LF, header keys must be printable ASCII
 *   without `:`; key case is kept exactly as sent (nats/headers.ts);
 * - a SUB only takes effect once the server read it: `flush()` after subscribing before relying
 *   on another client's publish reaching it;
 * - publishes made while disconnected are queued (up to `reconnectBufferBytes`) and sent, in
 *   order, once reconnected (nats/reconnect-buffer.ts); requests wait for the reconnect within
 *   their own `timeoutMs`, then fail with BusTimeoutError. Messages already in the socket when
 *   the server died are lost, as core NATS is at-most-once.
 *
 * The pieces live in nats/: link.ts (connection up/down/closed), errors.ts (nats.js errors to
 * bus errors), headers.ts, reconnect-buffer.ts, subscription.ts, status-log.ts and bus.ts (the
 * Bus itself). This file is the transport's entry: connection options, `createNatsBus`, and the
 * exports other code uses.
 */

import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from "nats";
import type { LogSink } from "../logger.ts";
import { BusError } from "./errors.ts";
import { type NatsBus, natsBusOn } from "./nats/bus.ts";

export { type NatsBus, natsConnectionOf } from "./nats/bus.ts";
export { mapNatsError } from "./nats/errors.ts";
export { fromNatsHeaders } from "./nats/headers.ts";
export { type LinkState, NatsLink, natsLink } from "./nats/link.ts";

/** TLS files (PEM paths) handed to nats.js, which reads them itself. */
export interface NatsTlsOptions {
  /** CA bundle used to verify the server. */
  caFile?: string;
  /** Client certificate (mutual TLS); needs `keyFile`. */
  certFile?: string;
  /** Client private key (mutual TLS). */
  keyFile?: string;
}

/** How `createNatsBus` connects (servers, auth, TLS) and how the bus behaves (timeouts, buffer). */
export interface NatsBusOptions {
  /** Server URLs, e.g. `["nats://127.0.0.1:4222"]`; nats.js picks one and fails over to the others. */
  servers: string[];
  /** Connection name shown by the server (`/connz`), e.g. `"switchyard-catalog"`. */
  name: string;
  /** Token authentication. */
  token?: string;
  /** User/password authentication. */
  user?: string;
  pass?: string;
  /**
   * Prefix of every inbox this connection receives on (nats.js `inboxPrefix`; default `_INBOX`),
   * e.g. `_INBOX.catalog`: request replies, JetStream deliveries and bus streams. With per-part
   * NATS permissions a part may subscribe only below its own prefix (see nats-permissions.ts).
   */
  inboxPrefix?: string;
  /** Path to a `.creds` file (JWT + NKey seed, env NATS_CREDS); read once at connect. */
  credsFile?: string;
  tls?: NatsTlsOptions;
  /** Receives handler errors and connection status changes. */
  logger?: LogSink;
  /** Reconnect attempts per server after a disconnect; -1 (default) = forever. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to the same server, ms; default 250. */
  reconnectTimeWaitMs?: number;
  /** Time allowed for the initial connection, ms; default 10000. */
  connectTimeoutMs?: number;
  /**
   * Cap on the protocol part of `drain` (UNSUB + PING/PONG round trips), ms; default 5000. Only
   * matters while the server is unreachable (the round trips would wait for a reconnect); running
   * handlers are always awaited in full.
   */
  drainTimeoutMs?: number;
  /**
   * Bytes (payload + subject; headers are not counted) of publishes kept while disconnected, sent once
   * reconnected; default 8 MiB (the Go client's `ReconnectBufSize`). Beyond it `publish` throws
   * BusError `BUS_RECONNECT_BUFFER_FULL`.
   */
  reconnectBufferBytes?: number;
}

/**
 * Connects to NATS and returns a {@link NatsBus}. Echo is on (a process receives its own
 * messages, like the memory bus); reconnects forever by default, every `reconnectTimeWaitMs`.
 * @throws BusError `BUS_CONNECT_FAILED` (with `cause`) when no server accepts the connection, or
 *   when `credsFile` cannot be read.
 */
export async function createNatsBus(opts: NatsBusOptions): Promise<NatsBus> {
  const options: ConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    noEcho: false,
    reconnect: true,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    timeout: opts.connectTimeoutMs ?? 10_000,
    // nats.js otherwise captures two Error stacks per request (for async traces of timeouts),
    // ~1.5% of the gateway's CPU in split mode; our BusTimeoutError names the subject anyway.
    noAsyncTraces: true,
  };
  if (opts.inboxPrefix !== undefined) options.inboxPrefix = opts.inboxPrefix;
  if (opts.token !== undefined) options.token = opts.token;
  if (opts.user !== undefined) options.user = opts.user;
  if (opts.pass !== undefined) options.pass = opts.pass;
  if (opts.tls !== undefined) {
    options.tls = {
      ...(opts.tls.caFile === undefined ? {} : { caFile: opts.tls.caFile }),
      ...(opts.tls.certFile === undefined ? {} : { certFile: opts.tls.certFile }),
      ...(opts.tls.keyFile === undefined ? {} : { keyFile: opts.tls.keyFile }),
    };
  }
  const fail = (what: string, cause: unknown): BusError => {
    const err = new BusError("BUS_CONNECT_FAILED", `${what}: ${cause instanceof Error ? cause.message : String(cause)}`);
    (err as { cause?: unknown }).cause = cause;
    return err;
  };
  if (opts.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = new Uint8Array(await readFile(opts.credsFile));
    } catch (err) {
      throw fail(`cannot read NATS credentials file ${opts.credsFile}`, err);
    }
    options.authenticator = credsAuthenticator(creds);
  }
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (err) {
    throw fail(`cannot connect to NATS at ${opts.servers.join(", ")}`, err);
  }
  const bus = natsBusOn(nc, {
    logger: opts.logger,
    drainTimeoutMs: opts.drainTimeoutMs ?? 5000,
    reconnectBufferBytes: opts.reconnectBufferBytes ?? 8 * 1024 * 1024,
    inboxPrefix: opts.inboxPrefix,
  });
  opts.logger?.info({ transport: "nats", server: nc.getServer(), name: opts.name }, "nats connected");
  return bus;
}
