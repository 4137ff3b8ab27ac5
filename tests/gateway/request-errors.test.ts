import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startInProcess, type InProcessGateway } from "./harness.ts";
import { eventually } from "../helpers/eventually.ts";

// A whole monolith in process on a loaded machine: bun's 5 s default is too short.
setDefaultTimeout(30_000);

/**
 * GraphQL-over-HTTP request errors (plugins/request-errors.ts, error-masking.ts, http.ts) on a
 * production-configured in-process monolith: every refusal has a code, a JSON body and the
 * request id; statuses follow the GraphQL-over-HTTP spec for each response media type.
 */
interface Body {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}
const GRAPHQL_RESPONSE = "application/graphql-response+json";

describe("request errors (production, in-process monolith)", () => {
  let gw: InProcessGateway;
  let productId: string;
  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "production", graphiql: false, introspection: false, subgraphTimings: false });
    const res = await gw.gql<{ products: { edges: { node: { id: string } }[] } }>("{ products(first: 1) { edges { node { id } } } }");
    productId = res.data?.products.edges[0]?.node.id as string;
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  const send = async (
    init: RequestInit & { headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: Body; text: string }> => {
    const res = await gw.request("/graphql", init);
    const text = await res.text();
    let body: Body = {};
    try {
      body = JSON.parse(text) as Body;
    } catch {
      // left empty: the assertions below say what was expected
    }
    return { status: res.status, headers: res.headers, body, text };
  };
  const postJson = (body: unknown, accept?: string) =>
    send({
      method: "POST",
      headers: { "content-type": "application/json", ...(accept ? { accept } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const expectCoded = (r: { body: Body; headers: Headers }, code: string): void => {
    expect(r.body.errors?.[0]?.extensions?.["code"]).toBe(code);
    const requestId = r.headers.get("x-request-id");
    expect(requestId).toBeTruthy();
    expect(r.body.errors?.[0]?.extensions?.["requestId"]).toBe(requestId as string);
  };

  test("variables that do not coerce: BAD_USER_INPUT, 400 for graphql-response+json, 200 for application/json (GraphQL over HTTP)", async () => {
    const wrongType = { query: "query($id: ID!) { product(id: $id) { id } }", variables: { id: { a: 1 } } };
    const missing = { query: "query($id: ID!) { product(id: $id) { id } }" };
    const nullForNonNull = { query: "query($n: Int!) { products(first: $n) { totalCount } }", variables: { n: null } };
    // Two bad variables (the Rust-planned executor throws them together; they were masked as INTERNAL_SERVER_ERROR).
    const twoBad = {
      query: "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
      variables: { e: {}, p: true },
    };
    for (const op of [wrongType, missing, nullForNonNull, twoBad]) {
      const strict = await postJson(op, GRAPHQL_RESPONSE);
      expect(strict.status).toBe(400);
      expect(strict.body.data).toBeUndefined();
      expectCoded(strict, "BAD_USER_INPUT");
      expect(strict.body.errors?.every((e) => e.extensions?.["code"] === "BAD_USER_INPUT")).toBe(true);
      const legacy = await postJson(op, "application/json");
      expect(legacy.status).toBe(200);
      expectCoded(legacy, "BAD_USER_INPUT");
    }
    // A subscription's variables too (no stream is opened for it).
    const sub = await postJson(
      { query: "subscription($p: ID!) { productStockChanged(productId: $p) { id } }", variables: { p: [1, 2] } },
      `${GRAPHQL_RESPONSE}, text/event-stream`,
    );
    expect(sub.status).toBe(400);
    expectCoded(sub, "BAD_USER_INPUT");
  });

  test("no query ({} or a bare GET): 400 BAD_REQUEST whatever the Accept", async () => {
    for (const accept of [undefined, "application/json", GRAPHQL_RESPONSE]) {
      const r = await postJson({}, accept);
      expect(r.status).toBe(400);
      expectCoded(r, "BAD_REQUEST");
    }
    const get = await send({ method: "GET", headers: { "apollo-require-preflight": "1", accept: "application/json" } });
    expect(get.status).toBe(400);
    expectCoded(get, "BAD_REQUEST");
  });

  test("an unreadable Content-Type: 415 UNSUPPORTED_MEDIA_TYPE with a JSON body and the request id", async () => {
    const r = await send({ method: "POST", headers: { "content-type": "application/xml", "x-graphql-yoga-csrf": "1" }, body: "<query/>" });
    expect(r.status).toBe(415);
    expect(r.headers.get("content-type")).toContain("application/json");
    expectCoded(r, "UNSUPPORTED_MEDIA_TYPE");
    expect(r.headers.get("accept")).toContain("application/json");
  });

  test("malformed JSON: 400 BAD_REQUEST without the parser's message in production", async () => {
    for (const accept of [undefined, GRAPHQL_RESPONSE]) {
      const r = await postJson('{"query": "{ __typename }"', accept);
      expect(r.status).toBe(400);
      expectCoded(r, "BAD_REQUEST");
      expect(r.body.errors?.[0]?.extensions?.["originalError"]).toBeUndefined();
      expect(r.text).not.toContain("SyntaxError");
      expect(r.text).not.toContain("JSON Parse error");
    }
  });

  test("an Accept nothing can be sent as: 406 NOT_ACCEPTABLE with a JSON body", async () => {
    const r = await postJson({ query: "{ __typename }" }, "text/html");
    expect(r.status).toBe(406);
    expectCoded(r, "NOT_ACCEPTABLE");
  });

  test("subscriptions over POST: SSE at once for text/event-stream, */* or no Accept; a coded 406 pointing at SSE/WebSocket for JSON only", async () => {
    const query = `subscription { productStockChanged(productId: "${productId}") { id stock } }`;
    for (const accept of ["*/*", "text/event-stream", undefined]) {
      const ctl = new AbortController();
      const started = Date.now();
      const timer = setTimeout(() => ctl.abort(), 5_000);
      const res = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(accept ? { accept } : {}) },
        body: JSON.stringify({ query }),
        signal: ctl.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      const first = await (res.body as ReadableStream<Uint8Array>).getReader().read();
      expect(first.done).toBe(false);
      expect(Date.now() - started).toBeLessThan(5_000);
      ctl.abort();
      clearTimeout(timer);
    }
    for (const accept of ["application/json", GRAPHQL_RESPONSE]) {
      const r = await postJson({ query }, accept);
      expect(r.status).toBe(406);
      expectCoded(r, "NOT_ACCEPTABLE");
      expect(r.body.errors?.[0]?.message).toContain("text/event-stream");
      expect(r.body.errors?.[0]?.message).toContain("WebSocket");
    }
  });

  test("variables nested deeper than MAX_JSON_DEPTH (64): 400 JSON_TOO_DEEP, however deep (was a 500 from a stack overflow)", async () => {
    const nested = (d: number) => `{"query":"{ __typename }","variables":{"v":${"[".repeat(d - 1)}${"]".repeat(d - 1)}}}`;
    const fine = await postJson(nested(64));
    expect(fine.status).toBe(200);
    expect(fine.body.errors).toBeUndefined();
    for (const depth of [65, 200_000]) {
      const r = await postJson(nested(depth), GRAPHQL_RESPONSE);
      expect(r.status).toBe(400);
      expectCoded(r, "JSON_TOO_DEEP");
      expect(r.body.errors?.[0]?.extensions?.["limit"]).toBe(64);
    }
    const ext = await postJson(`{"query":"{ __typename }","extensions":{"x":${"[".repeat(100)}${"]".repeat(100)}}}`);
    expect(ext.status).toBe(400);
    expectCoded(ext, "JSON_TOO_DEEP");
  });

  test("over WebSocket too: deep variables are JSON_TOO_DEEP; bad variables BAD_USER_INPUT with the socket kept; introspection is off; a client-sent next closes with 4400; a message over MAX_BODY_BYTES closes the socket (1009)", async () => {
    const ws = new WebSocket(gw.url.replace("http", "ws"), "graphql-transport-ws");
    const messages: { type: string; id?: string; payload?: { extensions?: { code?: string; limit?: number } }[] }[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.addEventListener("message", (e) => messages.push(JSON.parse(String(e.data)) as (typeof messages)[number]));
    await new Promise((resolve) => ws.addEventListener("open", resolve));
    ws.send(JSON.stringify({ type: "connection_init" }));
    await eventually("connection_ack", () => messages.some((m) => m.type === "connection_ack"));
    ws.send(
      `{"type":"subscribe","id":"deep","payload":{"query":"{ __typename }","variables":{"v":${"[".repeat(1000)}${"]".repeat(1000)}}}}`,
    );
    await eventually("the answer to operation deep", () => messages.some((m) => m.id === "deep"));
    const answer = messages.find((m) => m.id === "deep");
    expect(answer?.type).toBe("error");
    expect(answer?.payload?.[0]?.extensions).toMatchObject({ code: "JSON_TOO_DEEP", limit: 64 });
    // Variables that do not coerce: that operation gets BAD_USER_INPUT, the socket stays open
    // (the executor's throw used to close it with 4500, ending every other operation on it).
    ws.send(
      JSON.stringify({
        type: "subscribe",
        id: "coerce",
        payload: { query: "query($id: ID!) { product(id: $id) { id } }", variables: { id: {} } },
      }),
    );
    await eventually("the answer to operation coerce", () => messages.some((m) => m.id === "coerce"));
    const coerced = messages.find((m) => m.id === "coerce") as
      | { type: string; payload?: { errors?: { extensions?: { code?: string } }[] } }
      | undefined;
    expect(coerced?.type).toBe("next");
    expect(coerced?.payload?.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    // INTROSPECTION=false holds over WebSocket too (it used to answer __schema there).
    ws.send(JSON.stringify({ type: "subscribe", id: "schema", payload: { query: "{ __schema { types { name } } }" } }));
    await eventually("the answer to operation schema", () => messages.some((m) => m.id === "schema"));
    const schema = messages.find((m) => m.id === "schema");
    expect(schema?.type).toBe("error");
    expect(schema?.payload?.[0]?.extensions?.code).toBe("INTROSPECTION_DISABLED");
    // A client-sent `next` is an invalid message (4400), not a server failure (it closed with 4500).
    const second = new WebSocket(gw.url.replace("http", "ws"), "graphql-transport-ws");
    const secondClosed = new Promise<number>((resolve) => second.addEventListener("close", (e) => resolve(e.code)));
    await new Promise((resolve) => second.addEventListener("open", resolve));
    second.send(JSON.stringify({ type: "connection_init" }));
    second.send(JSON.stringify({ type: "next", id: "1", payload: {} }));
    expect(await secondClosed).toBe(4400);
    ws.send(
      JSON.stringify({
        type: "subscribe",
        id: "big",
        payload: { query: "{ __typename }", variables: { pad: "x".repeat(gw.config.maxBodyBytes + 10) } },
      }),
    );
    expect(await closed).toBe(1009);
  });

  test("another method on /graphql: 405 METHOD_NOT_ALLOWED with Allow", async () => {
    const r = await send({ method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toContain("POST");
    expectCoded(r, "METHOD_NOT_ALLOWED");
  });
});

describe("a subscription refused with 406 is closed at once (in-process monolith, 2 subscriptions per IP)", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess({
      nodeEnv: "production",
      graphiql: false,
      introspection: false,
      subgraphTimings: false,
      maxSubscriptionsPerIp: 2,
    });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("five JSON-only subscription requests (406) leave the IP's two subscription slots free", async () => {
    const res = await gw.gql<{ products: { edges: { node: { id: string } }[] } }>("{ products(first: 1) { edges { node { id } } } }");
    const query = `subscription { productStockChanged(productId: "${res.data?.products.edges[0]?.node.id}") { id stock } }`;
    for (let i = 0; i < 5; i++) {
      const refused = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query }),
      });
      expect(refused.status).toBe(406);
      await refused.text();
    }
    // yoga left those streams open (their slots held): a real subscription would now be refused.
    await Bun.sleep(100); // a window for the refused streams' cleanup; a held slot would refuse the request below
    const ctl = new AbortController();
    const sse = await fetch(gw.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query }),
      signal: ctl.signal,
    });
    expect(sse.status).toBe(200);
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    ctl.abort();
  });
});
