import { describe, expect, test } from "bun:test";
import type { CompositionIssue } from "../../src/gateway/federation/composer.ts";
import type { LoadedSupergraph } from "../../src/gateway/federation/manager.ts";
import { supergraphStatus } from "../../src/gateway/federation/status.ts";

/** federation/status.ts: each field read from its one owner on every call, never copied. */
describe("supergraph status", () => {
  test("reads the manager's supergraph, the composer's last attempt and the election's role afresh", () => {
    const manager: { current: LoadedSupergraph | null } = { current: null };
    const composer: { lastErrors: CompositionIssue[]; registered: string[] } = { lastErrors: [], registered: [] };
    let aggregator = false;
    const status = supergraphStatus({ manager, composer, aggregator: () => aggregator });
    expect(status()).toEqual({ current: null, lastErrors: [], registered: [], aggregator: false });

    const loaded = { version: 3, sdl: "type Query { a: Int }", subgraphs: ["catalog"], composedAt: "2026-01-01T00:00:00.000Z" };
    manager.current = loaded;
    composer.lastErrors = [{ message: "boom", subgraphs: ["order"] }];
    composer.registered = ["catalog", "order"];
    aggregator = true;
    expect(status()).toEqual({
      current: loaded,
      lastErrors: [{ message: "boom", subgraphs: ["order"] }],
      registered: ["catalog", "order"],
      aggregator: true,
    });

    composer.lastErrors = [];
    aggregator = false;
    expect(status().lastErrors).toEqual([]);
    expect(status().aggregator).toBe(false);
  });
});
