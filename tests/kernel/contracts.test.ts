import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { z } from "zod";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { InvalidSubjectError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createNatsBus } from "../../src/kernel/bus/nats.ts";
import { requestJson } from "../../src/kernel/bus/rpc.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { defineCommand, defineContract, defineEvent, outboxEntry, subjectsOf } from "../../src/kernel/contract/define.ts";
import { defineModule, type ModuleSpec } from "../../src/kernel/contract/module.ts";
import { AppError } from "../../src/kernel/errors.ts";
import { createJetStreamEvents } from "../../src/kernel/events/jetstream.ts";
import { liveEvents } from "../../src/kernel/events/live.ts";
import type { EventStream } from "../../src/kernel/events/types.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { busInvalidPayloads, eventsRedelivered, metricsRegistry } from "../../src/kernel/metrics.ts";
import type { ModuleContext } from "../../src/kernel/module.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { testConfig } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Typed contracts (src/kernel/contract/): the definitions themselves, the kernel's payload checks
 * at the bus boundary on both transports (memory bus; a real nats-server with JetStream), the
 * metric that counts refusals, and the start-time check of what a module serves and consumes
 * against what it declares.
 */

const SDL = (field: string): string =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\ntype Query { ${field}: String }`;
const token = (): string => crypto.randomUUID().replaceAll("-", "").slice(0, 8);

/** Current value of `switchyard_bus_invalid_payloads_total{subject,kind}`. */
async function invalidCount(subject: string, kind: "request" | "reply" | "event"): Promise<number> {
  const { values } = await busInvalidPayloads.get();
  return values.find((v) => v.labels.subject === subject && v.labels.kind === kind)?.value ?? 0;
}

async function redeliveredCount(subject: string): Promise<number> {
  const { values } = await eventsRedelivered.get();
  return values.filter((v) => v.labels.subject === subject).reduce((n, v) => n + v.value, 0);
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

describe("definitions", () => {
  const add = defineCommand("calc.add", {
    request: z.object({ a: z.int(), b: z.int() }),
    reply: z.object({ sum: z.int() }),
  });
  const added = defineEvent("calc.added", z.object({ eventId: z.string(), sum: z.int() }));

  test("a command carries its subject and both schemas; an event its subject and schema; both are frozen", () => {
    expect(add.kind).toBe("command");
    expect(add.subject).toBe("calc.add");
    expect(add.request.safeParse({ a: 1, b: 2 }).success).toBe(true);
    expect(add.request.safeParse({ a: 1, b: "2" }).success).toBe(false);
    expect(add.reply.safeParse({ sum: 1.5 }).success).toBe(false);
    expect(added.kind).toBe("event");
    expect(added.subject).toBe("calc.added");
    expect(added.schema.safeParse({ eventId: "e", sum: 3 }).success).toBe(true);
    expect(added.schema.safeParse({ sum: 3 }).success).toBe(false);
    expect(Object.isFrozen(add)).toBe(true);
    expect(Object.isFrozen(added)).toBe(true);
  });

  test("subjects must be literal NATS subjects", () => {
    for (const bad of ["", "calc.*", "calc.>", "calc..add", "calc add"]) {
      expect(() => defineCommand(bad, { request: z.object({}), reply: z.object({}) })).toThrow(InvalidSubjectError);
      expect(() => defineEvent(bad, z.object({ eventId: z.string() }))).toThrow(InvalidSubjectError);
    }
  });

  test("a contract refuses two definitions on one subject; subjectsOf maps names to subjects", () => {
    expect(() =>
      defineContract({ commands: { add }, events: { again: defineEvent("calc.add", z.object({ eventId: z.string() })) } }),
    ).toThrow("contract declares subject calc.add twice");
    const contract = defineContract({ commands: { add }, events: { added } });
    expect(subjectsOf(contract.commands)).toEqual({ add: "calc.add" });
    expect(subjectsOf(contract.events)).toEqual({ added: "calc.added" });
  });

  test("defineModule derives subjects, publishes and consumes from the definitions", () => {
    const other = defineEvent("other.happened", z.object({ eventId: z.string() }));
    const def = defineModule({
      name: "calc",
      version: "1.0.0",
      dependsOn: [],
      typeDefs: SDL("calc"),
      contract: defineContract({ commands: { add }, events: { added } }),
      consumes: [other],
      start: async () => ({ resolvers: {} }),
    });
    expect(def.subjects).toEqual(["calc.add"]);
    expect(def.publishes).toEqual(["calc.added"]);
    expect(def.consumes).toEqual(["other.happened"]);
  });

  test("outboxEntry pairs an event with its definition's subject", () => {
    expect(outboxEntry(added, { eventId: "e1", sum: 3 })).toEqual({ subject: "calc.added", event: { eventId: "e1", sum: 3 } });
  });
});

describe("live events of a definition", () => {
  test("a subscriber gets the schema's copy of well-formed events; malformed ones are skipped, reported and counted", async () => {
    const bus = createMemoryBus();
    const t = token();
    const ticked = defineEvent(`live${t}.ticked`, z.object({ eventId: z.string(), n: z.int() }));
    const malformed: string[] = [];
    const it = liveEvents(bus, ticked, { onMalformed: (m) => void malformed.push(m.string()) });
    const before = await invalidCount(ticked.subject, "event");
    bus.publish(ticked.subject, encodeJson({ eventId: "a", n: "one" }));
    bus.publish(ticked.subject, encodeJson({ eventId: "b", n: 2, extra: true }));
    const first = await it.next();
    expect(first.value).toEqual({ eventId: "b", n: 2 });
    expect(malformed).toEqual(['{"eventId":"a","n":"one"}']);
    expect(await invalidCount(ticked.subject, "event")).toBe(before + 1);
    await it.return?.();
    await bus.close();
  });
});

/** One transport under test: a bus and its durable events (undefined: the kernel's memory events). */
interface Transport {
  bus: Bus;
  events?: EventStream;
  close(): Promise<void>;
}

/**
 * The boundary checks, run once per transport: module `prov<t>` serves `echo` and `liar`
 * and publishes `happened`; module `cons<t>` consumes `happened` and calls both commands.
 */
function boundaryChecks(name: string, open: () => Promise<Transport>): void {
  describe(`payload checks at the bus boundary (${name})`, () => {
    const t = token();
    const echo = defineCommand(`ct${t}.echo`, {
      request: z.object({ text: z.string(), times: z.int() }),
      reply: z.object({ echoed: z.string() }),
    });
    const liar = defineCommand(`ct${t}.liar`, { request: z.object({}), reply: z.object({ n: z.number() }) });
    const happened = defineEvent(`ct${t}.happened`, z.object({ eventId: z.string(), n: z.int() }));
    const requests: unknown[] = [];
    const events: unknown[] = [];
    let transport: Transport;
    let kernel: Kernel;
    let consumer: ModuleContext | undefined;

    beforeAll(async () => {
      transport = await open();
      kernel = new Kernel({
        bus: transport.bus,
        ...(transport.events ? { events: transport.events } : {}),
        registry: createMemoryRegistry(),
        config: testConfig(),
        logger: createLogger({ level: "silent" }),
      });
      kernel.addModule(
        defineModule({
          name: `prov${t}`,
          version: "1.0.0",
          dependsOn: [],
          typeDefs: SDL(`prov${t}`),
          contract: defineContract({ commands: { echo, liar }, events: { happened } }),
          async start(ctx) {
            ctx.serve(echo, (req) => {
              requests.push(req);
              return { echoed: req.text.repeat(req.times) };
            });
            // A responder out of step with its own contract (the caller's kernel must notice).
            ctx.serve(liar, () => ({ n: "not a number" }) as never);
            return { resolvers: { Query: { [`prov${t}`]: () => "x" } } };
          },
        }),
      );
      kernel.addModule(
        defineModule({
          name: `cons${t}`,
          version: "1.0.0",
          dependsOn: [`prov${t}`],
          typeDefs: SDL(`cons${t}`),
          contract: defineContract({ commands: {}, events: {} }),
          consumes: [happened],
          async start(ctx) {
            consumer = ctx;
            ctx.on(happened, async (event) => {
              events.push(event);
            });
            return { resolvers: { Query: { [`cons${t}`]: () => "x" } } };
          },
        }),
      );
      await kernel.start();
    });

    afterAll(async () => {
      await kernel?.stop();
      await transport?.close();
      rmSync(kernel.config.dataDir, { recursive: true, force: true });
    });

    test("a well-formed request reaches the handler as the schema's copy (unknown fields dropped)", async () => {
      const reply = await consumer?.call(echo, { text: "ab", times: 2, extra: true } as never);
      expect(reply).toEqual({ echoed: "abab" });
      expect(requests.at(-1)).toEqual({ text: "ab", times: 2 });
    });

    test("a malformed request is answered BAD_REQUEST with its issues, counted, and never reaches the handler", async () => {
      const before = await invalidCount(echo.subject, "request");
      const handled = requests.length;
      const bodies: unknown[] = [null, "echo", { text: "a" }, { text: "a", times: 1.5 }, { text: 7, times: 1 }];
      for (const body of bodies) {
        // Raw JSON on the bus (what a caller out of step with the contract sends) ...
        const raw = await failure(requestJson(kernel.bus, echo.subject, body));
        expect({ body, code: raw.code }).toEqual({ body, code: "BAD_REQUEST" });
        // ... and through a module's typed call, cast past the compiler.
        const typed = await failure(consumer!.call(echo, body as never));
        expect(typed.code).toBe("BAD_REQUEST");
      }
      const err = await failure(requestJson(kernel.bus, echo.subject, { text: "a", times: "2" }));
      expect(err.message).toBe(`malformed request on ${echo.subject}: times: Invalid input: expected number, received string`);
      expect(err.details).toEqual({
        subject: echo.subject,
        issues: [{ path: "times", message: "Invalid input: expected number, received string" }],
      });
      expect(requests.length).toBe(handled);
      expect(await invalidCount(echo.subject, "request")).toBe(before + 2 * bodies.length + 1);
      // As Prometheus scrapes it.
      expect(await metricsRegistry.metrics()).toContain(
        `switchyard_bus_invalid_payloads_total{subject="${echo.subject}",kind="request"} ${before + 2 * bodies.length + 1}`,
      );
    });

    test("a reply that does not match the contract is refused on the caller's side with BAD_REPLY, counted", async () => {
      const before = await invalidCount(liar.subject, "reply");
      const err = await failure(consumer!.call(liar, {}));
      expect(err.code).toBe("BAD_REPLY");
      expect(err.details).toMatchObject({ subject: liar.subject, issues: [{ path: "n" }] });
      expect(await invalidCount(liar.subject, "reply")).toBe(before + 1);
    });

    test("a malformed event never reaches the handler: counted, acknowledged (not redelivered); the next one is handled", async () => {
      const before = await invalidCount(happened.subject, "event");
      const redeliveredBefore = await redeliveredCount(happened.subject);
      events.length = 0;
      await kernel.events.publish(happened.subject, encodeJson({ eventId: `bad-${t}`, n: "seven" }), { eventId: `bad-${t}` });
      await kernel.events.publish(happened.subject, encodeJson({ eventId: `good-${t}`, n: 7, extra: 1 }), { eventId: `good-${t}` });
      await eventually("the well-formed event", () => events.length === 1, { timeoutMs: 10_000 });
      expect(events).toEqual([{ eventId: `good-${t}`, n: 7 }]);
      expect(await invalidCount(happened.subject, "event")).toBe(before + 1);
      // A refused event that was not acknowledged would be redelivered after retryDelayMs (1 s)
      // and counted again.
      await Bun.sleep(1500); // a window in which such a redelivery would come
      expect(await invalidCount(happened.subject, "event")).toBe(before + 1);
      expect(await redeliveredCount(happened.subject)).toBe(redeliveredBefore);
      expect(events).toEqual([{ eventId: `good-${t}`, n: 7 }]);
    });

    test("a module may not emit another module's event; the event still flows from its publisher", async () => {
      events.length = 0;
      await expect(consumer!.emit(happened, { eventId: `x-${t}`, n: 1 })).rejects.toThrow(
        `module cons${t} emits ${happened.subject}, which its definition does not declare`,
      );
      await kernel.events.publish(happened.subject, encodeJson({ eventId: `ok-${t}`, n: 2 }), { eventId: `ok-${t}` });
      await eventually("the event", () => events.length === 1, { timeoutMs: 10_000 });
    });
  });
}

boundaryChecks("memory bus", async () => {
  const bus = createMemoryBus();
  return { bus, close: () => bus.close() };
});

let nats: NatsServer | undefined;
afterAll(async () => {
  await nats?.stop();
});
boundaryChecks("NATS + JetStream", async () => {
  nats ??= await startNats();
  const bus = await createNatsBus({ servers: [nats.url], name: "switchyard-contracts-test" });
  const events = createJetStreamEvents(bus.connection, { retryIntervalMs: 100 });
  return {
    bus,
    events,
    async close() {
      await events.close();
      await bus.close();
    },
  };
});

describe("start-time check of what a module serves and consumes", () => {
  const cmd = defineCommand("chk.cmd", { request: z.object({}), reply: z.object({}) });
  const other = defineCommand("chk.other", { request: z.object({}), reply: z.object({}) });
  const evt = defineEvent("chk.evt", z.object({ eventId: z.string() }));
  const undeclared = defineEvent("chk.undeclared", z.object({ eventId: z.string() }));

  /** Starts a kernel with one module; resolves to the start's error message, or "started". */
  async function startWith(spec: Pick<ModuleSpec, "contract" | "consumes" | "start">): Promise<string> {
    const bus = createMemoryBus();
    const kernel = new Kernel({ bus, registry: createMemoryRegistry(), config: testConfig(), logger: createLogger({ level: "silent" }) });
    kernel.addModule(defineModule({ name: "chk", version: "1.0.0", dependsOn: [], typeDefs: SDL("chk"), ...spec }));
    try {
      await kernel.start();
      return "started";
    } catch (err) {
      return (err as Error).message;
    } finally {
      await kernel.stop();
      await bus.close();
      rmSync(kernel.config.dataDir, { recursive: true, force: true });
    }
  }
  const resolvers = { resolvers: { Query: { chk: () => "x" } } };

  test("serving and consuming exactly what is declared starts", async () => {
    const msg = await startWith({
      contract: defineContract({ commands: { cmd }, events: {} }),
      consumes: [evt],
      async start(ctx) {
        ctx.serve(cmd, () => ({}));
        ctx.on(evt, async () => {});
        return resolvers;
      },
    });
    expect(msg).toBe("started");
  });

  test("serving a command the contract does not declare fails the start", async () => {
    const msg = await startWith({
      contract: defineContract({ commands: { cmd }, events: {} }),
      async start(ctx) {
        ctx.serve(cmd, () => ({}));
        ctx.serve(other, () => ({}));
        return resolvers;
      },
    });
    expect(msg).toBe("module chk serves chk.other, which its definition does not declare in its contract's commands (declared: chk.cmd)");
  });

  test("consuming an event the module does not declare fails the start", async () => {
    const msg = await startWith({
      contract: defineContract({ commands: {}, events: {} }),
      consumes: [evt],
      async start(ctx) {
        ctx.on(evt, async () => {});
        ctx.on(undeclared, async () => {});
        return resolvers;
      },
    });
    expect(msg).toBe("module chk consumes chk.undeclared, which its definition does not declare in consumes (declared: chk.evt)");
  });

  test("a declared command not served, or a declared event not consumed, fails the start", async () => {
    const msg = await startWith({
      contract: defineContract({ commands: { cmd, other }, events: {} }),
      consumes: [evt],
      async start(ctx) {
        ctx.serve(cmd, () => ({}));
        return resolvers;
      },
    });
    expect(msg).toBe("module chk declares commands it does not serve: chk.other; declares events it does not consume: chk.evt");
  });

  test("a failed start leaves no responder behind", async () => {
    const bus = createMemoryBus();
    const kernel = new Kernel({ bus, registry: createMemoryRegistry(), config: testConfig(), logger: createLogger({ level: "silent" }) });
    kernel.addModule(
      defineModule({
        name: "chk",
        version: "1.0.0",
        dependsOn: [],
        typeDefs: SDL("chk"),
        contract: defineContract({ commands: { cmd }, events: {} }),
        async start(ctx) {
          ctx.serve(cmd, () => ({}));
          ctx.serve(other, () => ({}));
          return resolvers;
        },
      }),
    );
    await expect(kernel.start()).rejects.toThrow("module chk serves chk.other");
    await expect(requestJson(bus, cmd.subject, {})).rejects.toBeInstanceOf(NoRespondersError);
    await kernel.stop();
    await bus.close();
    rmSync(kernel.config.dataDir, { recursive: true, force: true });
  });

  test("serving a command twice fails the start", async () => {
    const msg = await startWith({
      contract: defineContract({ commands: { cmd }, events: {} }),
      async start(ctx) {
        ctx.serve(cmd, () => ({}));
        ctx.serve(cmd, () => ({}));
        return resolvers;
      },
    });
    expect(msg).toBe("module chk serves chk.cmd twice");
  });

  test("emitting an event the contract does not declare is refused", async () => {
    let refused: unknown;
    const msg = await startWith({
      contract: defineContract({ commands: {}, events: { evt } }),
      async start(ctx) {
        await ctx.emit(evt, { eventId: "e1" });
        refused = await ctx.emit(undeclared, { eventId: "e2" }).catch((e: unknown) => e);
        return resolvers;
      },
    });
    expect(msg).toBe("started");
    expect((refused as Error).message).toBe(
      "module chk emits chk.undeclared, which its definition does not declare in its contract's events (declared: chk.evt)",
    );
  });
});
