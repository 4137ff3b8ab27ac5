import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SupergraphManager } from "../../src/gateway/federation/manager.ts";
import { composeSupergraph } from "../../src/gateway/federation/compose.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { BusIdentity } from "../../src/kernel/bus-identity.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";
import { moduleSubgraphs } from "../../scripts/build.ts";
import { apiSchemaOf, formatSchemaChanges, printApiSchema, SCHEMA_COMMAND, SCHEMA_FILE, schemaChanges } from "../../scripts/schema.ts";

/**
 * schema.graphql, the public API schema clients generate types from, is what the modules in
 * src/module-list.ts compose into, as the gateway serves it; drift fails with the breaking and
 * non-breaking changes against the committed file and the command that rewrites it.
 */
describe("public API schema (schema.graphql)", () => {
  test("is what the modules compose, as the gateway serves it", async () => {
    const committed = readFileSync(SCHEMA_FILE, "utf8");
    const composed = composeSupergraph(await moduleSubgraphs());
    if (!composed.ok) throw new Error(`the modules do not compose: ${composed.errors.map((e) => e.message).join("; ")}`);
    const current = await apiSchemaOf(composed.supergraphSdl);
    if (current !== committed) {
      const report = formatSchemaChanges(await schemaChanges(committed, current));
      throw new Error(`schema.graphql differs from the public schema the modules compose.\n${report}`);
    }
    expect(current).toBe(committed);

    // The gateway's own schema of that supergraph (the manager's, as yoga serves and introspects it) prints the same.
    const manager = new SupergraphManager({
      bus: createMemoryBus(),
      store: createMemorySupergraphStore(),
      logger: createLogger({ level: "silent" }),
      subgraphTimeoutMs: 1000,
      queryPlanner: "js",
      identity: new BusIdentity({ key: "public-schema-test-key-public-schema-test-key", ttlMs: 60_000 }),
    });
    await manager.loadStatic({ version: 1, sdl: composed.supergraphSdl, subgraphs: {}, composedAt: new Date().toISOString() });
    const served = manager.getSchema();
    expect(served).not.toBeNull();
    if (served) expect(printApiSchema(served)).toBe(committed);
    manager.stop();
  }, 60_000);

  test("holds the API only: roots present, no federation plumbing", () => {
    const committed = readFileSync(SCHEMA_FILE, "utf8");
    for (const root of ["type Query {", "type Mutation {", "type Subscription {"]) expect(committed).toContain(root);
    for (const plumbing of ["join__", "link__", "_entities", "_service", "_Any", "directive @", "requiresScopes__"])
      expect(committed).not.toContain(plumbing);
  });

  test("the drift report names breaking, dangerous and non-breaking changes, and the command", async () => {
    const before = 'type Query { a: Int b: String e: E }\nenum E { X }\n"""doc"""\ntype T { f: Int }';
    const after = 'type Query { a: String c: Int e: E }\nenum E { X Y }\n"""doc"""\ntype T { f: Int }';
    const changes = await schemaChanges(before, after);
    expect(changes).toEqual({
      breaking: [
        "Field 'b' was removed from object type 'Query' (Query.b)",
        "Field 'Query.a' changed type from 'Int' to 'String' (Query.a)",
      ],
      dangerous: ["Enum value 'Y' was added to enum 'E' (E.Y)"],
      safe: ["Field 'c' was added to object type 'Query' (Query.c)"],
    });
    const report = formatSchemaChanges(changes);
    expect(report).toContain("BREAKING changes (2):");
    expect(report).toContain("Non-breaking changes (1):");
    expect(report).toContain(SCHEMA_COMMAND);
    expect(await schemaChanges(before, before)).toEqual({ breaking: [], dangerous: [], safe: [] });
  });
});
