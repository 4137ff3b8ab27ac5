import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsAuthorizationConfig, natsInboxPrefix, natsPermissions } from "../../src/kernel/bus/nats-permissions.ts";
import { findBinary } from "../../scripts/devservers/proc.ts";
import { matches } from "../../src/kernel/bus/subject.ts";
import { gatewayContract, moduleContracts, passwordEnv } from "../../scripts/nats-permissions.ts";
import { ROOT } from "../helpers/topology.ts";
import { MODULES } from "../../src/module-list.ts";

/**
 * The generator of per-part NATS permissions, on the binary's real module contracts. The
 * end-to-end proof (a real nats-server enforcing them on running parts) is
 * tests/e2e/trusted-bus.e2e.test.ts; here: what each part may and may not do.
 */

const modules = moduleContracts();
const allowed = (list: readonly string[], subject: string): boolean => list.some((pattern) => matches(pattern, subject));
const may = (part: string) => {
  const p = natsPermissions([part], modules, gatewayContract());
  return {
    publish: (s: string) => allowed(p.publish.allow, s),
    subscribe: (s: string) => allowed(p.subscribe.allow, s),
    responses: p.allow_responses,
  };
};

describe("NATS permissions from the module contracts", () => {
  test("the binary's modules are all there", () => {
    expect(modules.map((m) => m.name).sort()).toEqual(Object.keys(MODULES).sort());
  });

  test("the gateway requests every subgraph; no module requests any subgraph", () => {
    for (const m of modules) {
      expect(may("gateway").publish(`graphql.${m.name}`)).toBe(true);
      expect(may("gateway").publish(`graphql.${m.name}.subscribe`)).toBe(true);
      for (const other of modules) expect(may(m.name).publish(`graphql.${other.name}`)).toBe(false);
    }
  });

  test("the gateway requests the commands it declares (session check) and no other module command", () => {
    expect(may("gateway").publish("account.session.check")).toBe(true);
    expect(may("account").subscribe("account.session.check")).toBe(true);
    expect(may("order").publish("account.session.check")).toBe(false);
    expect(may("gateway").subscribe("account.disabled")).toBe(true);
    expect(may("gateway").subscribe("account.session_revoked")).toBe(true);
    // A declared call no module serves is not granted.
    const odd = natsPermissions(["gateway"], modules, { calls: ["nobody.serves.this"] });
    expect(allowed(odd.publish.allow, "nobody.serves.this")).toBe(false);
  });

  test("a module serves only its own subgraph and command subjects", () => {
    expect(may("catalog").subscribe("graphql.catalog")).toBe(true);
    expect(may("catalog").subscribe("graphql.catalog.subscribe")).toBe(true);
    expect(may("catalog").subscribe("catalog.stock.reserve")).toBe(true);
    expect(may("catalog").subscribe("graphql.account")).toBe(false);
    expect(may("catalog").subscribe("payment.authorize")).toBe(false);
    expect(may("payment").subscribe("payment.capture")).toBe(true);
    expect(may("order").subscribe("catalog.stock.reserve")).toBe(false);
    expect(may("gateway").subscribe("graphql.catalog")).toBe(false);
  });

  test("commands: only the modules that depend on the owner may request them", () => {
    for (const s of [
      "catalog.stock.reserve",
      "catalog.stock.release",
      "payment.authorize",
      "payment.capture",
      "payment.void",
      "payment.refund",
    ]) {
      expect(may("order").publish(s)).toBe(true);
      expect(may("account").publish(s)).toBe(false);
      expect(may("gateway").publish(s)).toBe(false);
    }
    expect(may("payment").publish("catalog.stock.reserve")).toBe(false);
    expect(may("catalog").publish("payment.authorize")).toBe(false);
  });

  test("events: a module publishes only its own and manages only its own stream and consumers", () => {
    expect(may("order").publish("order.status_changed")).toBe(true);
    expect(may("catalog").publish("order.status_changed")).toBe(false);
    expect(may("account").publish("catalog.stock_changed")).toBe(false);
    expect(may("catalog").publish("$JS.API.STREAM.CREATE.EVENTS_CATALOG")).toBe(true);
    expect(may("catalog").publish("$JS.API.STREAM.CREATE.EVENTS_ORDER")).toBe(false);
    expect(may("catalog").publish("$JS.API.STREAM.DELETE.EVENTS_ORDER")).toBe(false);
    expect(may("catalog").publish("$JS.API.CONSUMER.MSG.NEXT.EVENTS_ORDER.catalog__order_status_changed")).toBe(true);
    expect(may("catalog").publish("$JS.ACK.EVENTS_ORDER.catalog__order_status_changed.1.2.3.4.5")).toBe(true);
    expect(may("payment").publish("$JS.API.CONSUMER.MSG.NEXT.EVENTS_ORDER.catalog__order_status_changed")).toBe(false);
    expect(may("gateway").publish("$JS.API.STREAM.DELETE.EVENTS_ORDER")).toBe(false);
    expect(may("gateway").publish("$JS.API.STREAM.PURGE.EVENTS_ORDER")).toBe(false);
    expect(may("gateway").subscribe("catalog.stock_changed")).toBe(true);
  });

  test("inboxes: each part receives only on its own prefix; modules answer requests and stream to the gateway", () => {
    expect(natsInboxPrefix(["gateway"])).toBe("_INBOX.gateway");
    expect(natsInboxPrefix(["order", "catalog"])).toBe("_INBOX.catalog-order");
    expect(natsInboxPrefix(["catalog", "gateway"])).toBe("_INBOX.gateway");
    expect(may("catalog").subscribe("_INBOX.catalog.abc.1")).toBe(true);
    expect(may("catalog").subscribe("_INBOX.gateway.abc.1")).toBe(false);
    expect(may("catalog").subscribe("_INBOX.abc")).toBe(false);
    expect(may("gateway").subscribe("_INBOX.order.abc")).toBe(false);
    expect(may("catalog").publish("_INBOX.gateway.stream1")).toBe(true);
    expect(may("catalog").publish("_INBOX.order.x")).toBe(false);
    expect(may("catalog").responses).toBe(true);
  });

  test("a process running several parts gets their union; an unknown part is an error", () => {
    const both = natsPermissions(["catalog", "order"], modules);
    expect(allowed(both.subscribe.allow, "graphql.order")).toBe(true);
    expect(allowed(both.subscribe.allow, "graphql.catalog")).toBe(true);
    expect(allowed(both.subscribe.allow, "_INBOX.catalog-order.x")).toBe(true);
    expect(allowed(both.subscribe.allow, "_INBOX.catalog.x")).toBe(false);
    expect(() => natsPermissions(["nope"], modules)).toThrow(/unknown part/);
  });

  test("the generated configuration is accepted by nats-server (passwords from its environment)", () => {
    const parts = ["gateway", ...modules.map((m) => m.name)];
    const conf = natsAuthorizationConfig(
      parts.map((p) => ({ user: p, password: { env: passwordEnv(p) }, parts: [p] })),
      modules,
      gatewayContract(),
    );
    expect(conf).toContain("password: $NATS_PASS_CATALOG");
    const dir = mkdtempSync(join(tmpdir(), "switchyard-natsconf-"));
    try {
      const file = join(dir, "nats.conf");
      writeFileSync(file, conf);
      const env = Object.fromEntries(parts.map((p) => [passwordEnv(p), `pw-${p}`]));
      const r = Bun.spawnSync([findBinary("nats-server", "nats-server"), "-c", file, "-t"], { env: { ...process.env, ...env } });
      expect({ code: r.exitCode, out: r.stderr.toString() + r.stdout.toString() }).toMatchObject({ code: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("docs/deploy-fly.md shows exactly what the generator prints for this binary", () => {
    const r = Bun.spawnSync([process.execPath, join(ROOT, "scripts/nats-permissions.ts")]);
    expect(r.exitCode).toBe(0);
    const printed = r.stdout.toString();
    expect(printed).toContain("authorization {");
    expect(readFileSync(join(ROOT, "docs/deploy-fly.md"), "utf8")).toContain(printed);
  });
});
