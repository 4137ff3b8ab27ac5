import type { Bus, Subscription } from "../../src/kernel/bus/types.ts";

/** A bus that counts its live subscriptions per subject (see {@link watchSubscriptions}). */
export type WatchedBus<B extends Bus = Bus> = B & {
  /** Subscriptions to exactly `subject` made through this bus and not yet unsubscribed or drained. */
  subscriptionsTo(subject: string): number;
};

/**
 * The same bus, counting live subscriptions per subject: a readiness signal for tests ("the
 * catalog subscribed to catalog.stock_changed") instead of a sleep. Everything else is the bus
 * itself (methods bound to it); only `subscribe` is observed, never changed.
 */
export function watchSubscriptions<B extends Bus>(bus: B): WatchedBus<B> {
  const live = new Map<string, number>();
  const change = (subject: string, by: number): void => {
    const n = (live.get(subject) ?? 0) + by;
    if (n > 0) live.set(subject, n);
    else live.delete(subject);
  };
  const subscribe: Bus["subscribe"] = (subject, handler, opts) => {
    const sub = bus.subscribe(subject, handler, opts);
    change(subject, 1);
    let counted = true;
    const forget = (): void => {
      if (counted) change(subject, -1);
      counted = false;
    };
    const watched: Subscription = {
      get subject() {
        return sub.subject;
      },
      ...(sub.queue !== undefined ? { queue: sub.queue } : {}),
      unsubscribe: () => {
        forget();
        sub.unsubscribe();
      },
      drain: () => {
        forget();
        return sub.drain();
      },
    };
    return watched;
  };
  return new Proxy(bus, {
    get(target, prop) {
      if (prop === "subscribe") return subscribe;
      if (prop === "subscriptionsTo") return (subject: string) => live.get(subject) ?? 0;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as WatchedBus<B>;
}
