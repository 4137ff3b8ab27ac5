import { print, type DocumentNode } from "graphql";

/**
 * Returns `node` with every list in it flattened (nested lists spliced into their parent list);
 * the same object when nothing had to change.
 *
 * Why: `@graphql-tools/delegate` (12.x, used by the stitching runtime for subscriptions and for
 * `QUERY_PLANNER=js`) rewrites a field selected on a union through an interface the subgraph does
 * not know into inline fragments per member by returning an *array* from a `visit` callback, which
 * leaves a list inside `selections`. graphql-js up to 16.14 printed it anyway (its printer joined
 * lists with `Array.join`, and the resulting commas are insignificant in GraphQL); 16.15's printer
 * crashes on it (`this.tail.next` / `this.tail.dedentAfter` of undefined).
 */
function flattenLists<T>(node: T): T {
  if (Array.isArray(node)) {
    const flat = (node as unknown[]).flat(Infinity);
    let changed = flat.length !== node.length || flat.some((x, i) => x !== node[i]);
    const out = flat.map((x) => {
      const n = flattenLists(x);
      if (n !== x) changed = true;
      return n;
    });
    return (changed ? out : node) as T;
  }
  if (node === null || typeof node !== "object") return node;
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc" || value === null || typeof value !== "object") continue;
    const n = flattenLists(value);
    if (n !== value) (copy ??= { ...(node as Record<string, unknown>) })[key] = n;
  }
  return (copy ?? node) as T;
}

const printed = new WeakMap<DocumentNode, string>();

/**
 * Prints the document of a request to a subgraph (bus or HTTP), once per document object (plans
 * and delegation reuse the same `DocumentNode` for the same operation). Documents with nested
 * selection lists (see {@link flattenLists}) are flattened first.
 * @throws TypeError / Error for a document graphql-js cannot print (a gateway bug: callers log it
 *   as an internal error, never as an unavailable subgraph).
 */
export function printRequestDocument(doc: DocumentNode): string {
  let s = printed.get(doc);
  if (s === undefined) printed.set(doc, (s = print(flattenLists(doc))));
  return s;
}
