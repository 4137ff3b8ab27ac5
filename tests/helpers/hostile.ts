/**
 * Generators (fast-check arbitraries) and the response check of the hostile-input suite
 * (tests/e2e/hostile.e2e.test.ts): raw HTTP requests, hostile GraphQL documents, and operations
 * on every root field of a schema with random arguments of the right and of the wrong type.
 */
import fc from "fast-check";
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from "graphql";

/** Strings meant to hurt: controls, NUL, lone surrogates, bidi controls, long and odd text. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\uD800",
    "x\uDFFFy",
    "\u202Egnp.exe",
    "\u2028",
    "\r\n",
    "é",
    "e\u0301",
    "💥".repeat(50),
    "'; DROP TABLE products; --",
    '" OR 1=1 --',
    "NEAR(a b)",
    '"unterminated',
    "*",
    "a*",
    "^",
    "tok_visa",
    "tok_chargeDeclined",
    "tok_processingError",
    // Not tok_timeout: its saga may settle after the response, racing the suite's stock bookkeeping.
    "x".repeat(10_000),
    "%00",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style probe, literally.
    "${jndi:ldap://x}",
    "__proto__",
    "constructor",
  ),
);

/** Integers around every boundary a field might have (Int is 32-bit; quantities, cents, page sizes). */
export const hostileInt: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -3, max: 5 }),
  fc.integer({ min: -200, max: 200 }),
  fc.constantFrom(0, -1, 99, 100, 101, 1_000_000, 100_000_000, 100_000_001, 1_000_000_000, 2 ** 31 - 1, -(2 ** 31)),
  fc.integer(),
);

/** Any JSON value: the "wrong type" for an argument. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 1.5, -0.0001, 2 ** 31, 2 ** 53 + 1, 1e308, [], {}, "", "\u0000", [null], { __proto__: 1 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A placeholder for an id of a kind the suite has seen; resolved when the request is sent. */
export interface IdRef {
  $id: "Product" | "Category" | "Order" | "Account";
  i: number;
}
const idRef: fc.Arbitrary<IdRef> = fc.record({
  $id: fc.constantFrom("Product", "Category", "Order", "Account"),
  i: fc.nat(),
}) as fc.Arbitrary<IdRef>;

/** A value of `type` (mostly well-typed), `wrongValue` now and then. */
function inputValueOf(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const right = rightValueOf(type, depth);
  return fc.oneof({ arbitrary: right, weight: 6 }, { arbitrary: wrongValue, weight: 1 });
}

function rightValueOf(type: GraphQLInputType, depth: number): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return rightValueOf(type.ofType, depth);
  if (isListType(type)) return fc.array(inputValueOf(type.ofType, depth + 1), { maxLength: depth > 1 ? 2 : 5 });
  if (isEnumType(type))
    return fc.oneof(
      { arbitrary: fc.constantFrom(...type.getValues().map((v) => v.name)), weight: 5 },
      { arbitrary: hostileString, weight: 1 },
    );
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) model[f.name] = inputValueOf(f.type, depth + 1);
    const required = fields.filter((f) => isNonNullType(f.type) && f.defaultValue === undefined).map((f) => f.name);
    // Required fields mostly present; sometimes any subset (a missing required field is a case too).
    return fc.oneof(
      { arbitrary: fc.record(model, { requiredKeys: required }), weight: 5 },
      { arbitrary: fc.record(model, { requiredKeys: [] }), weight: 1 },
    );
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "ID":
        return fc.oneof({ arbitrary: idRef, weight: 4 }, { arbitrary: hostileString, weight: 1 });
      case "Int":
        return hostileInt;
      case "Float":
        return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), hostileInt);
      case "Boolean":
        return fc.boolean();
      default:
        return hostileString;
    }
  }
  return wrongValue;
}

/** Replaces every {@link IdRef} in `value` with an id from `pools` (or an unknown id when the pool is empty). */
export function resolveIds(value: unknown, pools: Record<IdRef["$id"], string[]>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIds(v, pools));
  if (value !== null && typeof value === "object") {
    const ref = value as Partial<IdRef>;
    if (typeof ref.$id === "string" && typeof ref.i === "number" && Object.keys(value).length === 2) {
      const pool = pools[ref.$id];
      return pool.length ? pool[ref.i % pool.length] : `unknown-${ref.i}`;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIds(v, pools)]));
  }
  return value;
}

/** The selection set of `type`: `__typename`, every argument-free leaf, objects below up to `depth` levels. */
export function selectionOf(type: GraphQLOutputType, depth = 2): string {
  const named = getNamedType(type);
  if (isUnionType(named) || isInterfaceType(named)) return "{ __typename }";
  if (!isObjectType(named)) return "";
  const parts = ["__typename"];
  for (const f of Object.values(named.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type))) continue;
    const leaf = !isObjectType(getNamedType(f.type)) && !isInterfaceType(getNamedType(f.type)) && !isUnionType(getNamedType(f.type));
    if (leaf) parts.push(f.name);
    else if (depth > 0) parts.push(`${f.name} ${selectionOf(f.type, depth - 1)}`);
  }
  return `{ ${parts.join(" ")} }`;
}

/** One operation on one root field: document, variables, who sends it. */
export interface FieldOperation {
  kind: "query" | "mutation" | "subscription";
  field: string;
  query: string;
  variables: Record<string, unknown>;
  as: "anonymous" | "customer" | "admin";
}

/**
 * Operations on every root field of `schema` (Query, Mutation, Subscription), one field per
 * operation with random arguments passed as variables (declared with the argument's type, so
 * coercion is exercised) or omitted.
 */
export function fieldOperation(schema: GraphQLSchema): fc.Arbitrary<FieldOperation> {
  const roots: { kind: FieldOperation["kind"]; field: GraphQLField<unknown, unknown> }[] = [];
  for (const [kind, type] of [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
    ["subscription", schema.getSubscriptionType()],
  ] as const) {
    for (const field of Object.values(type?.getFields() ?? {})) roots.push({ kind, field });
  }
  return fc.constantFrom(...roots).chain(({ kind, field }) => {
    const args: Record<string, fc.Arbitrary<unknown>> = {};
    for (const a of field.args) args[a.name] = inputValueOf(a.type);
    return fc
      .record({
        values: fc.record(args, { requiredKeys: [] }),
        as: fc.constantFrom("anonymous", "customer", "admin") as fc.Arbitrary<FieldOperation["as"]>,
      })
      .map(({ values, as }) => {
        const used = field.args.filter((a) => a.name in values);
        const decl = used.length ? `(${used.map((a) => `$${a.name}: ${a.type.toString()}`).join(", ")})` : "";
        const call = used.length ? `(${used.map((a) => `${a.name}: $${a.name}`).join(", ")})` : "";
        return {
          kind,
          field: field.name,
          query: `${kind}${decl} { ${field.name}${call} ${selectionOf(field.type)} }`,
          variables: values,
          as,
        };
      });
  });
}

/** Hostile GraphQL documents: deep, wide, alias bombs, fragment cycles, directive floods, odd tokens. */
export const hostileDocument: fc.Arbitrary<string> = fc.oneof(
  // Deep: real nesting (categories → products → edges → node → category → …) or made-up fields.
  fc.integer({ min: 1, max: 300 }).map((d) => {
    const cycle = ["products(first: 1)", "edges", "node", "category"];
    const fields = ["categories", ...Array.from({ length: d }, (_, i) => cycle[i % cycle.length])];
    return `{ ${fields.map((f) => `${f} {`).join(" ")} __typename ${"}".repeat(fields.length)} }`;
  }),
  fc.integer({ min: 1, max: 2000 }).map((d) => `${"{ a ".repeat(d)}${"}".repeat(d)}`),
  // Alias bombs and wide selections.
  fc
    .integer({ min: 1, max: 3000 })
    .map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: categories { id name products { totalCount } }`).join(" ")} }`),
  fc.integer({ min: 1, max: 3000 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(" ")} }`),
  fc
    .integer({ min: 1, max: 500 })
    .map((n) => `{ products(first: 100) { edges { node { ${"id name description stock inStock ".repeat(n)} } } } }`),
  // Fragment cycles and fragment fan-out (the classic "billion laughs").
  fc.constant("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
  fc.integer({ min: 2, max: 30 }).map((n) => {
    const frags = Array.from(
      { length: n },
      (_, i) => `fragment F${i} on Query { ${i + 1 < n ? `...F${i + 1} ...F${i + 1}` : "categories { id }"} }`,
    );
    return `query { ...F0 } ${frags.join(" ")}`;
  }),
  // Directive floods, unknown directives, variables never defined, introspection.
  fc.integer({ min: 1, max: 2000 }).map((n) => `{ categories ${"@include(if: true) ".repeat(n)} { id } }`),
  fc.constantFrom(
    "{ __schema { types { name fields { name } } } }",
    '{ __type(name: "Query") { name } }',
    "query($x: Int) { products(first: $y) { totalCount } }",
    "{ categories @nope { id } }",
    "mutation { __typename }",
    "subscription { __typename }",
    "query A { __typename } query A { __typename }",
    "{ product(id: 1) { id } }",
    '{ products(first: 101, search: "\\u0000") { totalCount } }',
    '{ products(after: "!!!not-a-cursor") { totalCount } }',
    '{ products(search: "\\ud800") { totalCount } }',
    "{",
    "}",
    "#",
    "query",
    '"""',
    "{ products { edges { node { price { amount cents currency } } } } }",
  ),
  // Random text and random token soup.
  fc.string({ maxLength: 200 }),
  fc
    .array(
      fc.constantFrom(
        "{",
        "}",
        "(",
        ")",
        "...",
        "on",
        "query",
        "mutation",
        "subscription",
        "fragment",
        "$a",
        ":",
        "@skip",
        "categories",
        "id",
        '"x"',
        "1",
        "[",
        "]",
        "!",
        "=",
        "|",
        "&",
      ),
      { maxLength: 200 },
    )
    .map((t) => t.join(" ")),
);

/** A raw HTTP request to the GraphQL endpoint: any method, content type, accept and body. */
export interface RawRequest {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string;
  search?: string;
}

const deepJson = fc
  .integer({ min: 1, max: 200_000 })
  .map((d) => `{"query":"{ __typename }","variables":{"v":${"[".repeat(d)}${"]".repeat(d)}}}`);

/** Raw requests: random bytes, broken JSON, JSON that is no GraphQL request, odd media types. */
export const rawRequest: fc.Arbitrary<RawRequest> = fc
  .record({
    method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"),
    contentType: fc.oneof(
      fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin1",
        "application/graphql+json",
        "application/graphql",
        "application/graphql-response+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
      ),
      fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    accept: fc.oneof(
      fc.constantFrom(
        undefined,
        "*/*",
        "application/json",
        "application/graphql-response+json",
        "text/event-stream",
        "multipart/mixed",
        "text/html",
        "image/png",
        "application/json;q=0, */*;q=0",
      ),
      fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    preflight: fc.boolean(),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 2048 }),
      fc.string({ maxLength: 300 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            query: fc.oneof(hostileDocument, wrongValue),
            variables: fc.oneof(wrongValue, fc.dictionary(fc.string({ maxLength: 5 }), wrongValue)),
            operationName: fc.oneof(hostileString, wrongValue),
            extensions: wrongValue,
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).slice(0, -1)),
      fc.array(fc.record({ query: fc.constant("{ __typename }") }), { maxLength: 20 }).map((v) => JSON.stringify(v)),
      deepJson,
    ),
    search: fc.oneof(
      fc.constant(""),
      fc.string({ maxLength: 100 }).map((s) => `?query=${encodeURIComponent(s)}`),
      hostileDocument.map((d) => `?query=${encodeURIComponent(d)}`),
      fc.constant("?query=mutation%7B__typename%7D"),
      fc.constant("?query=%7B__typename%7D&variables=%5B1%5D"),
    ),
  })
  .map(({ method, contentType, accept, preflight, body, search }) => {
    const headers: Record<string, string> = {};
    if (contentType) headers["content-type"] = contentType;
    if (accept !== undefined) headers["accept"] = accept;
    if (preflight) headers["graphql-preflight"] = "1";
    return method === "GET" ? { method, headers, search } : { method, headers, body };
  });

/** What the suite learned from one response. */
export interface Checked {
  status: number;
  codes: string[];
  data?: unknown;
}

/**
 * Reads `res` and checks the suite's invariants: no 5xx; a JSON body (or an SSE stream, read
 * briefly); every error with a string `extensions.code`, none of them `INTERNAL_SERVER_ERROR`
 * (an unexpected error is a bug to fix, masked or not), and nothing of an exception (`originalError`,
 * a stack trace) leaked. Throws with `what` and the body on a violation.
 */
export async function checkResponse(res: Response, what: string): Promise<Checked> {
  const fail = (why: string, body: string): never => {
    throw new Error(`${why} (HTTP ${res.status}) for ${what.slice(0, 2000)}\nbody: ${body.slice(0, 2000)}`);
  };
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    const text = await readBriefly(res, 300);
    // yoga sends a subscription's request error (variables) as one SSE event with status 400.
    if (res.status >= 500) fail("a 5xx", text);
    const codes: string[] = [];
    for (const line of text.split("\n")) {
      if (!line.startsWith("data: ")) continue;
      const payload = JSON.parse(line.slice(6)) as { errors?: { extensions?: { code?: unknown } }[] };
      for (const e of payload.errors ?? []) {
        if (typeof e.extensions?.code !== "string") fail("an SSE error without extensions.code", text);
        codes.push(e.extensions?.code as string);
      }
    }
    if (codes.includes("INTERNAL_SERVER_ERROR")) fail("an internal error", text);
    return { status: res.status, codes };
  }
  const text = await res.text();
  if (res.status >= 500) fail("a 5xx", text);
  if (res.status === 304) return { status: res.status, codes: [] };
  // Bun's HTTP server refuses a request line or headers over its limit (16 KiB) itself, before
  // the application sees the request: no GraphQL body is possible there.
  if (res.status === 431 && text === "") return { status: res.status, codes: [] };
  let body: { data?: unknown; errors?: { message?: unknown; extensions?: Record<string, unknown> }[] };
  try {
    // multipart/mixed (asked for by Accept): the JSON of the first part.
    const json = type.startsWith("multipart/mixed") ? text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1) : text;
    body = JSON.parse(json) as typeof body;
  } catch {
    return fail("a body that is not JSON", text);
  }
  const errors = body.errors ?? [];
  if (res.status >= 400 && errors.length === 0) fail("an error status without errors", text);
  if (!("data" in body) && errors.length === 0) fail("neither data nor errors", text);
  const codes: string[] = [];
  for (const e of errors) {
    const code = e.extensions?.["code"];
    if (typeof code !== "string") fail("an error without extensions.code", text);
    codes.push(code as string);
    if (e.extensions?.["originalError"] !== undefined || e.extensions?.["stacktrace"] !== undefined)
      fail("an exception leaked in extensions", text);
    if (typeof e.message === "string" && /\n\s+at /.test(e.message)) fail("a stack trace in a message", text);
  }
  if (codes.includes("INTERNAL_SERVER_ERROR")) fail("an internal error", text);
  return { status: res.status, codes, data: body.data };
}

async function readBriefly(res: Response, ms: number): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const next = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
      if (next === null || next.done) break;
      text += decoder.decode(next.value, { stream: true });
      // Complete events only: stop after the first `next` (or the end).
      if (/event: (next|complete)\ndata: .*\n\n/.test(text)) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

/** One step of the ordering property: orders, payments, cancellations, status and stock changes. */
export type OrderCommand =
  | { k: "create"; as: "customer" | "admin"; items: { p: number; q: number }[]; parallel: number }
  | { k: "pay"; as: "customer" | "admin"; o: number; token: string }
  | { k: "cancel"; as: "customer" | "admin"; o: number }
  | { k: "status"; o: number; status: string }
  | { k: "stock"; p: number; stock: number };

const who = fc.constantFrom("customer", "admin") as fc.Arbitrary<"customer" | "admin">;
const quantity = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 6 }, { arbitrary: hostileInt, weight: 1 });

/**
 * Mostly valid ordering steps (so that orders are really placed, paid, cancelled), with hostile
 * quantities, tokens and statuses mixed in; `p` and `o` index the suite's product and order
 * pools. `parallel` identical orders are sent at once (a race for the last units).
 */
export const orderCommand: fc.Arbitrary<OrderCommand> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant("create" as const),
      as: who,
      items: fc.array(fc.record({ p: fc.nat({ max: 7 }), q: quantity }), { minLength: 1, maxLength: 4 }),
      parallel: fc.integer({ min: 1, max: 6 }),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      k: fc.constant("pay" as const),
      as: who,
      o: fc.nat(),
      token: fc.oneof(
        { arbitrary: fc.constantFrom("tok_visa", "tok_chargeDeclined", "tok_processingError"), weight: 4 },
        { arbitrary: hostileString, weight: 1 },
      ),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ k: fc.constant("cancel" as const), as: who, o: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      k: fc.constant("status" as const),
      o: fc.nat(),
      status: fc.oneof(
        { arbitrary: fc.constantFrom("PENDING", "PAID", "SHIPPED", "CANCELLED", "PAYMENT_FAILED"), weight: 5 },
        { arbitrary: hostileString, weight: 1 },
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      k: fc.constant("stock" as const),
      p: fc.nat({ max: 7 }),
      stock: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 6 }), weight: 4 }, { arbitrary: hostileInt, weight: 1 }),
    }),
    weight: 1,
  },
);

/** One WebSocket session: how it authenticates and what it sends after `connection_init`. */
export interface WsSession {
  auth: "none" | "customer" | "garbage";
  messages: ({ subscribe: { query: string; variables?: unknown; operationName?: unknown } } | { raw: string })[];
}

/** WebSocket sessions: hostile documents and field operations as `subscribe`, junk frames, odd ids. */
export function wsSession(schema: GraphQLSchema): fc.Arbitrary<WsSession> {
  const subscribe = fc.oneof(
    fieldOperation(schema).map((op) => ({ subscribe: { query: op.query, variables: op.variables } })),
    hostileDocument.map((query) => ({ subscribe: { query } })),
    fc
      .record({ query: fc.oneof(hostileDocument, wrongValue), variables: wrongValue, operationName: wrongValue }, { requiredKeys: [] })
      .map((p) => ({ subscribe: p as { query: string } })),
  );
  const raw = fc
    .oneof(
      fc.string({ maxLength: 100 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.constantFrom(
        '{"type":"ping"}',
        '{"type":"complete","id":"nope"}',
        '{"type":"connection_init"}',
        '{"type":"subscribe"}',
        '{"type":"subscribe","id":"","payload":{}}',
        '{"type":"next","id":"1","payload":{}}',
      ),
    )
    .map((r) => ({ raw: r }));
  return fc.record({
    auth: fc.constantFrom("none", "customer", "garbage") as fc.Arbitrary<WsSession["auth"]>,
    messages: fc.array(fc.oneof({ arbitrary: subscribe, weight: 4 }, { arbitrary: raw, weight: 1 }), { minLength: 1, maxLength: 5 }),
  });
}
