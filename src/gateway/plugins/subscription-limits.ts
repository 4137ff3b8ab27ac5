/**
 * Caps on concurrent subscriptions, so one client cannot pin unbounded gateway and subgraph
 * resources with open streams:
 *
 * | cap | option (default) | counted |
 * |---|---|---|
 * | per WebSocket connection | `MAX_SUBSCRIPTIONS_PER_CONNECTION` (20) | by ws.ts, per socket |
 * | per account | `MAX_SUBSCRIPTIONS_PER_ACCOUNT` (50) | WebSocket + SSE, per gateway |
 * | per client IP | `MAX_SUBSCRIPTIONS_PER_IP` (200) | WebSocket + SSE, with or without a token, per gateway |
 *
 * A subscription over a cap is refused with `SUBSCRIPTION_LIMIT` (`extensions.limit`,
 * `extensions.scope`: `connection`, `account` or `ip`): over a WebSocket as an `error` message for
 * that operation id (the socket and its other subscriptions stay open), over SSE as the stream's
 * only result. A slot is held from the subscribe until the stream ends for any reason (completed
 * by the client or the server, an error, the socket closing).
 *
 * Counts are per gateway process: in split mode with N gateways an account can hold up to N × the
 * account cap (sharing live counts across gateways would need leases in NATS KV; a client is
 * usually pinned to one gateway by its WebSocket anyway).
 */
import { GraphQLError } from "graphql";
import { isAsyncIterable } from "graphql-yoga";
import type { GatewayContext } from "../context.ts";
import type { GatewayPlugin } from "./types.ts";

/** Error code of a refused subscription. */
export const SUBSCRIPTION_LIMIT = "SUBSCRIPTION_LIMIT";

/** The caps; 0 turns one off. */
export interface SubscriptionCaps {
  perConnection: number;
  perAccount: number;
  perIp: number;
}

/** Who holds a subscription: its client IP and, with a token, its account. */
export interface SubscriptionHolder {
  ip: string;
  accountId?: string | undefined;
}

const limitError = (scope: "connection" | "account" | "ip", limit: number): GraphQLError =>
  new GraphQLError(
    `too many concurrent subscriptions for this ${scope === "ip" ? "address" : scope} (limit ${limit}); complete one first`,
    {
      extensions: { code: SUBSCRIPTION_LIMIT, limit, scope },
    },
  );

/** Live subscription counts per account and per IP of this gateway (see the file comment). */
export class SubscriptionSlots {
  readonly caps: SubscriptionCaps;
  readonly #counts = new Map<string, number>();

  constructor(caps: SubscriptionCaps) {
    this.caps = caps;
  }

  /** The error for a connection already holding `held` subscriptions at its cap, else undefined. */
  connectionFull(held: number): GraphQLError | undefined {
    return this.caps.perConnection > 0 && held >= this.caps.perConnection ? limitError("connection", this.caps.perConnection) : undefined;
  }

  /**
   * Takes one slot of `holder`'s account and IP.
   * @returns `release` (idempotent) to call when the subscription ends, or the `SUBSCRIPTION_LIMIT`
   *   error when a cap is reached (nothing taken then).
   */
  acquire(holder: SubscriptionHolder): { release: () => void } | { error: GraphQLError } {
    const keys: string[] = [];
    if (holder.accountId !== undefined) {
      const key = `account:${holder.accountId}`;
      if (this.caps.perAccount > 0 && this.count(key) >= this.caps.perAccount)
        return { error: limitError("account", this.caps.perAccount) };
      keys.push(key);
    }
    const ipKey = `ip:${holder.ip}`;
    if (this.caps.perIp > 0 && this.count(ipKey) >= this.caps.perIp) return { error: limitError("ip", this.caps.perIp) };
    keys.push(ipKey);
    for (const k of keys) this.#counts.set(k, this.count(k) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const k of keys) {
          const n = this.count(k) - 1;
          if (n > 0) this.#counts.set(k, n);
          else this.#counts.delete(k);
        }
      },
    };
  }

  /** Open subscriptions counted under `key` (`account:<id>` or `ip:<address>`). */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
}

/**
 * `source` with `release` called once when it ends: done, returned (client gone), thrown into,
 * or failing.
 */
export function releasing<T>(source: AsyncIterable<T>, release: () => void): AsyncIterableIterator<T> {
  const it = source[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      try {
        const r = await it.next();
        if (r.done) release();
        return r;
      } catch (err) {
        release();
        throw err;
      }
    },
    async return(value?: unknown) {
      release();
      return it.return ? it.return(value) : { done: true, value: value as T };
    },
    async throw(err?: unknown) {
      release();
      if (it.throw) return it.throw(err);
      throw err;
    },
  };
}

/**
 * The account and IP caps for subscriptions over HTTP (SSE): the slot is taken when the
 * subscription is actually started and released when its stream ends. WebSocket operations are
 * skipped here: ws.ts takes their slots itself, so that a refusal is an `error` message.
 */
export function useSubscriptionLimits(slots: SubscriptionSlots): GatewayPlugin {
  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const ctx = args.contextValue as GatewayContext;
      if (ctx.transport === "ws") return;
      setSubscribeFn(async (subscribeArgs) => {
        const slot = slots.acquire({ ip: ctx.clientIp ?? "unknown", accountId: ctx.identity?.accountId });
        if ("error" in slot) return { errors: [slot.error] };
        try {
          const result = await subscribeFn(subscribeArgs);
          if (isAsyncIterable(result)) return releasing(result, slot.release);
          slot.release();
          return result;
        } catch (err) {
          slot.release();
          throw err;
        }
      });
    },
  };
}
