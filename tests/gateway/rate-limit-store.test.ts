import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type NatsConnection } from "nats";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { RateLimiter } from "../../src/gateway/middleware/rate-limit.ts";
import { MemoryRateLimitStore, NatsKvRateLimitStore, type RateLimitStore } from "../../src/gateway/middleware/rate-limit-store.ts";

// A real nats-server on a loaded machine: bun's 5 s default is too short.
setDefaultTimeout(30_000);

/**
 * One contract for both stores: what the rate limiter relies on. `open()` returns a store over a
 * fresh handle; `peer()` a second store sharing the first one's counters where the
 * implementation is meant to share them (NATS KV: a second connection, like a second gateway).
 */
function storeContract(name: string, open: () => Promise<RateLimitStore>) {
  describe(`rate-limit store contract [${name}]`, () => {
    const uniq = () => `client-${crypto.randomUUID()}`;

    test("counts per client from 1, independently per client", async () => {
      const s = await open();
      const [a, b] = [uniq(), uniq()];
      expect(await s.increment(a, 1)).toBe(1);
      expect(await s.increment(a, 1)).toBe(2);
      expect(await s.increment(b, 1)).toBe(1);
      expect(await s.increment(a, 1)).toBe(3);
      await s.close();
    });

    test("a new window starts from 1", async () => {
      const s = await open();
      const a = uniq();
      expect(await s.increment(a, 10)).toBe(1);
      expect(await s.increment(a, 10)).toBe(2);
      expect(await s.increment(a, 11)).toBe(1);
      await s.close();
    });

    test("concurrent increments of one client each get a distinct count, none is lost", async () => {
      const s = await open();
      const a = uniq();
      const counts = await Promise.all(Array.from({ length: 40 }, () => s.increment(a, 5)));
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(await s.increment(a, 5)).toBe(41);
      await s.close();
    });

    test("client keys of any characters (IPv6, account ids) are kept apart", async () => {
      const s = await open();
      expect(await s.increment("ip:::1", 1)).toBe(1);
      expect(await s.increment("ip:::1", 1)).toBe(2);
      expect(await s.increment("ip::.1", 1)).toBe(1);
      expect(await s.increment("account:2ZZ/x y", 1)).toBe(1);
      await s.close();
    });
  });
}

storeContract("memory", async () => new MemoryRateLimitStore());

describe("memory store", () => {
  test("drops the counters of past windows", async () => {
    const s = new MemoryRateLimitStore();
    await s.increment("a", 1);
    await s.increment("a", 2);
    // A late request of window 1 after window 2 started counts as new (window 1 is gone).
    expect(await s.increment("a", 2)).toBe(2);
  });
});

describe("NATS KV store (real nats-server)", () => {
  let server: NatsServer;
  const conns: NatsConnection[] = [];
  const connection = async () => {
    const nc = await connect({ servers: server.url });
    conns.push(nc);
    return nc;
  };
  beforeAll(async () => {
    server = await startNats();
  }, 60_000);
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await server?.stop();
  }, 60_000);

  storeContract("nats-kv", async () => NatsKvRateLimitStore.open(await connection(), { windowMs: 60_000 }));

  test("the bucket is a JetStream KV with the window as TTL, named after the window", async () => {
    const nc = await connection();
    const s = await NatsKvRateLimitStore.open(nc, { windowMs: 30_000 });
    await s.increment("x", 1);
    const status = await (await nc.jetstream().views.kv("switchyard_ratelimit_30s", { bindOnly: true })).status();
    expect(status.ttl).toBe(30_000);
    expect(status.history).toBe(1);
  });

  test("two stores on two connections (two gateways) share counters, also under concurrency", async () => {
    const a = await NatsKvRateLimitStore.open(await connection(), { windowMs: 60_000 });
    const b = await NatsKvRateLimitStore.open(await connection(), { windowMs: 60_000 });
    const client = `account:${crypto.randomUUID()}`;
    const counts = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).increment(client, 7)));
    expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  test("two gateway-like limiters sharing the KV store enforce one limit together", async () => {
    const now = () => 1_800_000_000_000; // one pinned window for both
    const gw1 = new RateLimiter(await NatsKvRateLimitStore.open(await connection(), { windowMs: 60_000 }), { max: 10, windowS: 60, now });
    const gw2 = new RateLimiter(await NatsKvRateLimitStore.open(await connection(), { windowMs: 60_000 }), { max: 10, windowS: 60, now });
    const client = `ip:10.0.0.${Math.floor(Math.random() * 250)}-${crypto.randomUUID()}`;
    const decisions = await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? gw1 : gw2).hit(client)));
    expect(decisions.filter((d) => d.allowed).length).toBe(10);
    expect(decisions.filter((d) => !d.allowed).length).toBe(15);
    for (const d of decisions.filter((x) => !x.allowed)) {
      expect(d.remaining).toBe(0);
      expect(d.resetS).toBeGreaterThanOrEqual(1);
      expect(d.resetS).toBeLessThanOrEqual(60);
    }
    // A separate limiter with its own in-memory store would have allowed 10 more: sharing matters.
    const alone = new RateLimiter(new MemoryRateLimitStore(), { max: 10, windowS: 60, now });
    expect((await alone.hit(client)).allowed).toBe(true);
  });

  test("an unreachable server makes increment reject (the middleware then fails open)", async () => {
    const nc = await connection();
    const s = await NatsKvRateLimitStore.open(nc, { windowMs: 60_000, timeoutMs: 500 });
    await nc.close();
    await expect(s.increment("c", 1)).rejects.toBeDefined();
  });
});

describe("RateLimiter", () => {
  test("allows max per window, then refuses with the seconds left; the next window allows again", async () => {
    let t = 1_800_000_000_000 + 15_000; // 15 s into a 60 s window (epoch-aligned)
    const limiter = new RateLimiter(new MemoryRateLimitStore(), { max: 3, windowS: 60, now: () => t });
    const d = [await limiter.hit("c"), await limiter.hit("c"), await limiter.hit("c"), await limiter.hit("c")];
    expect(d.map((x) => x.allowed)).toEqual([true, true, true, false]);
    expect(d.map((x) => x.remaining)).toEqual([2, 1, 0, 0]);
    expect(d[3]?.resetS).toBe(45);
    expect((await limiter.hit("other")).allowed).toBe(true);
    t += 45_000;
    expect((await limiter.hit("c")).allowed).toBe(true);
  });
});
