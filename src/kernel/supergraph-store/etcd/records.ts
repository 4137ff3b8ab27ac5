/** The supergraph records stored in etcd: copying, parsing and checking them. */
import { errorText } from "../../etcd/client.ts";
import type { StoredSupergraph } from "../types.ts";

/** A deep-enough copy of a record (callers may change theirs). */
export function copyRecord(r: StoredSupergraph): StoredSupergraph {
  return { version: r.version, sdl: r.sdl, subgraphs: { ...r.subgraphs }, composedAt: r.composedAt };
}

/** Parses a stored record. @throws Error when the value is not a valid record. */
export function parseRecord(value: Buffer, key: string): StoredSupergraph {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch (err) {
    throw new Error(`supergraph store: ${key} is not JSON: ${errorText(err)}`);
  }
  const r = parsed as Partial<StoredSupergraph> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    !Number.isInteger(r.version) ||
    typeof r.sdl !== "string" ||
    typeof r.composedAt !== "string" ||
    typeof r.subgraphs !== "object" ||
    r.subgraphs === null
  ) {
    throw new Error(`supergraph store: ${key} is not a supergraph record`);
  }
  return copyRecord(r as StoredSupergraph);
}

/** @throws Error when `subgraphs` is not an object of name → sha256 strings. */
export function checkSubgraphs(subgraphs: Record<string, string>): void {
  if (typeof subgraphs !== "object" || subgraphs === null || Array.isArray(subgraphs)) {
    throw new Error("publish: subgraphs must be an object of name → sha256");
  }
  for (const [name, hash] of Object.entries(subgraphs)) {
    if (typeof hash !== "string") throw new Error(`publish: subgraphs.${name} must be a string`);
  }
}
