import { expect, test } from "bun:test";
import { newId } from "../../src/kernel/ids.ts";
import { subjectLabel } from "../../src/kernel/metrics.ts";

test("subjectLabel: memoised answers equal computed ones, also past the memo's bound", () => {
  const cases: [string, string][] = [
    ["catalog.stock.reserve", "catalog.stock.reserve"],
    ["order.2ZfKJ0wYwHhHQvPaRKcA1fC3xYz.paid", "order.*.paid"],
    ["payment.4711.capture", "payment.*.capture"],
    ["_INBOX.abc.def", "_INBOX.>"],
  ];
  for (let round = 0; round < 2; round++) for (const [s, label] of cases) expect(subjectLabel(s)).toBe(label);
  // More distinct id-carrying subjects than the memo holds: still labelled correctly.
  for (let i = 0; i < 1500; i++) expect(subjectLabel(`order.${newId()}.paid`)).toBe("order.*.paid");
  for (const [s, label] of cases) expect(subjectLabel(s)).toBe(label);
  expect(subjectLabel("graphql.account")).toBe("graphql.account");
});
