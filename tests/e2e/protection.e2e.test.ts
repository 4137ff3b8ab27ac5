import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { freePort } from "../helpers/ports.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";

/**
 * Protection end to end, through the gateway, in a production-configured deployment:
 * NODE_ENV=production (GraphiQL and introspection off, internal errors masked), default operation
 * limits and body limit, default CORS (none), and a small rate limit. TRUST_PROXY=true lets every
 * test be its own client by its X-Forwarded-For address (documented use: behind a proxy), so the
 * tests do not eat each other's budget; the limiter itself counts in NATS KV in split mode.
 */
// Processes and real servers under a loaded CI machine: bun's 5 s default is too short.
setDefaultTimeout(60_000);

const RATE_LIMIT_MAX = 20;
const RATE_LIMIT_AUTH_MAX = 10;
// The IP budget equals the account budget here, so the anonymous tests below count RATE_LIMIT_MAX.
const ENV = {
  NODE_ENV: "production",
  RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
  RATE_LIMIT_IP_MAX: String(RATE_LIMIT_MAX),
  RATE_LIMIT_AUTH_MAX: String(RATE_LIMIT_AUTH_MAX),
  RATE_LIMIT_WINDOW_S: "86400",
  TRUST_PROXY: "true",
};
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
const LOGIN = `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }`;
const PASSWORD = "protection e2e password";

/** Registers a fresh account from `client`; returns its e-mail and token. */
async function registerFrom(url: string, client: string): Promise<{ email: string; token: string }> {
  const email = `protect.${crypto.randomUUID()}@example.com`;
  const r = await post(url, client, REGISTER, { input: { name: "Protection", email, password: PASSWORD } });
  const token = (r.body.data?.["register"] as { token?: string } | undefined)?.token;
  if (!token) throw new Error(`register failed: ${JSON.stringify(r.body)}`);
  return { email, token };
}

interface GqlError {
  message: string;
  extensions?: Record<string, unknown> & { code?: string };
}
interface Answer {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: GqlError[] };
  codes: (string | undefined)[];
}

let clientSeq = 0;
/** A fresh client address (TEST-NET-3, 203.0.113.0/24, and beyond). */
const newClient = (): string => `203.0.${113 + Math.floor(clientSeq / 250)}.${(clientSeq++ % 250) + 1}`;

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: Answer["body"];
  try {
    body = JSON.parse(text) as Answer["body"];
  } catch {
    body = { errors: [{ message: text.slice(0, 200) }] };
  }
  return { status: res.status, headers: res.headers, body, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
}

/** POSTs `{ query, variables }` as JSON from `client` (X-Forwarded-For). */
async function post(
  url: string,
  client: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Answer> {
  return answer(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": client, ...headers },
      body: JSON.stringify({ query, variables }),
    }),
  );
}

/** `{ categories { products { edges { node { category { products ... { id } } } } } } }`: `depth` field levels, leaf included. */
function deepQuery(depth: number): string {
  // products(first: 1): the depth is what is tested, not the fan-out.
  const cycle = ["products(first: 1)", "edges", "node", "category"];
  const fields = ["categories"];
  for (let i = 0; fields.length < depth - 1; i++) fields.push(cycle[i % cycle.length] as string);
  // The leaf: node and category have `id`; a connection or edge needs one more level to reach it.
  const last = fields[fields.length - 1];
  const leaf =
    last === "node" || last === "category" || last === "categories" ? "id" : last?.startsWith("products") ? "totalCount" : "cursor";
  return `{ ${fields.map((f) => `${f} {`).join(" ")} ${leaf} ${"}".repeat(fields.length)} }`;
}

for (const name of selectedTopologies()) {
  describe(`protection [${name}]`, () => {
    let t: Topology;
    let url: string;
    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      t = await start({ env: ENV });
      url = t.graphqlUrl;
    }, 120_000);
    afterAll(async () => {
      await t?.stop();
    }, 60_000);

    test("a 20-deep query is refused with QUERY_TOO_DEEP (400 for graphql-response+json), nothing executed", async () => {
      const q = deepQuery(20);
      const r = await post(url, newClient(), q, {}, { accept: "application/graphql-response+json" });
      expect(r.status).toBe(400);
      expect(r.body.data).toBeUndefined();
      expect(r.codes).toContain("QUERY_TOO_DEEP");
      const deep = r.body.errors?.find((e) => e.extensions?.code === "QUERY_TOO_DEEP");
      expect(deep?.extensions?.["limit"]).toBe(12);
      // The same shape within the limit is served.
      const ok = await post(url, newClient(), deepQuery(12));
      expect(ok.body.errors).toBeUndefined();
      expect(Array.isArray(ok.body.data?.["categories"])).toBe(true);
    });

    test("a 1,000-alias query is refused (TOO_MANY_TOKENS: the parser stops it first); 31 aliases are TOO_MANY_ALIASES", async () => {
      const thousand = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: products(first: 1) { totalCount }`).join(" ")} }`;
      const r = await post(url, newClient(), thousand, {}, { accept: "application/graphql-response+json" });
      expect(r.status).toBe(400);
      expect(r.codes).toEqual(["TOO_MANY_TOKENS"]);
      const some = `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: categories { id }`).join(" ")} }`;
      const s = await post(url, newClient(), some);
      expect(s.codes).toEqual(["TOO_MANY_ALIASES"]);
      expect(s.body.errors?.[0]?.extensions?.["limit"]).toBe(30);
    });

    test("CSRF: GET and form POST without a preflight header are refused (403 CSRF_PREVENTED); with the header GET works", async () => {
      const client = newClient();
      const get = await answer(
        await fetch(`${url}?query=${encodeURIComponent("{ categories { id } }")}`, { headers: { "x-forwarded-for": client } }),
      );
      expect(get.status).toBe(403);
      expect(get.codes).toEqual(["CSRF_PREVENTED"]);
      const form = await answer(
        await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": client },
          body: `query=${encodeURIComponent("mutation { __typename }")}`,
        }),
      );
      expect(form.status).toBe(403);
      expect(form.codes).toEqual(["CSRF_PREVENTED"]);
      const ok = await answer(
        await fetch(`${url}?query=${encodeURIComponent("{ categories { id } }")}`, {
          headers: { "x-forwarded-for": client, "apollo-require-preflight": "true" },
        }),
      );
      expect(ok.status).toBe(200);
      expect(Array.isArray(ok.body.data?.["categories"])).toBe(true);
    });

    test("security headers are set; no CORS headers by default (CORS_ORIGINS unset)", async () => {
      const r = await post(url, newClient(), "{ __typename }", {}, { origin: "https://evil.example" });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(r.headers.get("strict-transport-security")).toContain("max-age=");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(r.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      const pre = await fetch(url, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST", "x-forwarded-for": newClient() },
      });
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    });

    test("a body over 1 MiB (MAX_BODY_BYTES default) is refused: 413 PAYLOAD_TOO_LARGE", async () => {
      const r = await post(url, newClient(), "{ __typename }", { pad: "x".repeat(1_100_000) }, { "x-request-id": "e2e-big-body" });
      expect(r.status).toBe(413);
      expect(r.codes).toEqual(["PAYLOAD_TOO_LARGE"]);
      expect(r.body.errors?.[0]?.extensions?.["requestId"]).toBe("e2e-big-body");
    });

    test("production: errors carry the request id; GraphiQL is off", async () => {
      const r = await post(url, newClient(), '{ products(after: "not-a-cursor") { totalCount } }', {}, { "x-request-id": "e2e-req-42" });
      expect(r.codes).toEqual(["BAD_USER_INPUT"]);
      expect(r.body.errors?.[0]?.extensions?.["requestId"]).toBe("e2e-req-42");
      expect(r.headers.get("x-request-id")).toBe("e2e-req-42");
      const page = await fetch(url, { headers: { accept: "text/html", "x-forwarded-for": newClient() } });
      expect(await page.text()).not.toContain("GraphiQL");
    });

    test("production: introspection is off (INTROSPECTION_DISABLED), __typename works, no field suggestions", async () => {
      const client = newClient();
      const schema = await post(url, client, "{ __schema { types { name } } }");
      expect(new Set(schema.codes)).toEqual(new Set(["INTROSPECTION_DISABLED"]));
      const type = await post(url, client, '{ __type(name: "Product") { fields { name } } }');
      expect(type.codes).toContain("INTROSPECTION_DISABLED");
      expect((await post(url, client, "{ __typename }")).body.data).toEqual({ __typename: "Query" });
      const typo = await post(url, client, "{ prodcts { totalCount } }");
      expect(typo.codes).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
      expect(typo.body.errors?.[0]?.message).not.toContain("Did you mean");
    });

    test("malformed requests get coded errors with GraphQL-over-HTTP statuses; names with control characters are refused and write nothing", async () => {
      const client = newClient();
      const raw = async (body: string, headers: Record<string, string> = {}) =>
        answer(
          await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", "x-forwarded-for": client, ...headers },
            body,
          }),
        );
      const strict = { accept: "application/graphql-response+json" };
      const none = await raw("{}");
      expect([none.status, none.codes]).toEqual([400, ["BAD_REQUEST"]]);
      const broken = await raw('{"query": "{ __typename }"');
      expect([broken.status, broken.codes]).toEqual([400, ["BAD_REQUEST"]]);
      expect(broken.body.errors?.[0]?.extensions?.["originalError"]).toBeUndefined();
      const coercion = await raw(
        JSON.stringify({ query: "query($id: ID!) { product(id: $id) { id } }", variables: { id: { a: 1 } } }),
        strict,
      );
      expect([coercion.status, coercion.codes]).toEqual([400, ["BAD_USER_INPUT"]]);
      const deep = await raw(`{"query":"{ __typename }","variables":{"v":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`, strict);
      expect([deep.status, deep.codes]).toEqual([400, ["JSON_TOO_DEEP"]]);
      const xml = await raw("<query/>", { "content-type": "application/xml", "graphql-preflight": "1" });
      expect([xml.status, xml.codes]).toEqual([415, ["UNSUPPORTED_MEDIA_TYPE"]]);
      const first = await post(url, client, "{ products(first: 1) { edges { node { id } } } }");
      const productId = (first.body.data?.["products"] as { edges: { node: { id: string } }[] }).edges[0]?.node.id;
      const sub = await raw(JSON.stringify({ query: `subscription { productStockChanged(productId: "${productId}") { id } }` }), {
        accept: "application/json",
      });
      expect([sub.status, sub.codes]).toEqual([406, ["NOT_ACCEPTABLE"]]);
      const email = `nul.${crypto.randomUUID()}@example.com`;
      const register = "mutation($i: RegisterInput!) { register(input: $i) { account { name } } }";
      const nul = await post(url, client, register, { i: { name: "Ada\u0000Lovelace", email, password: "long enough pw" } });
      expect(nul.codes).toEqual(["BAD_USER_INPUT"]);
      expect(nul.body.errors?.[0]?.extensions?.["field"]).toBe("name");
      // Nothing was written: the address is still free; the name is stored NFC and trimmed.
      const ok = await post(url, client, register, { i: { name: " Ame\u0301lie ", email, password: "long enough pw" } });
      expect(ok.body.data?.["register"]).toEqual({ account: { name: "Am\u00e9lie" } });
    });

    test(`rate limit: after RATE_LIMIT_MAX (${RATE_LIMIT_MAX}) requests, 429 + Retry-After + RATE_LIMITED (WebSocket upgrades too)`, async () => {
      const client = newClient();
      const limitedClient = client;
      // Fixed windows: a boundary could fall inside the loop, so go on until refused (at most two windows' worth).
      let refused: Answer | undefined;
      let before: Answer | undefined;
      let sent = 0;
      while (!refused && sent < 2 * RATE_LIMIT_MAX + 1) {
        const r = await post(url, client, "{ __typename }");
        sent++;
        if (r.status === 429) refused = r;
        else {
          expect(r.status).toBe(200);
          before = r;
        }
      }
      expect(refused).toBeDefined();
      expect(sent).toBeGreaterThan(RATE_LIMIT_MAX);
      expect(before?.headers.get("ratelimit-remaining")).toBe("0");
      expect(refused?.codes).toEqual(["RATE_LIMITED"]);
      const retryAfter = Number(refused?.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 86_400).toBe(true);
      expect(refused?.body.errors?.[0]?.extensions?.["retryAfterS"]).toBe(retryAfter);
      // Another client is not affected.
      expect((await post(url, newClient(), "{ __typename }")).status).toBe(200);
      // WebSocket upgrades pass the same limit: the refused client cannot open a graphql-ws socket, another can.
      const wsOutcome = (client: string) =>
        new Promise<"open" | "refused">((resolve) => {
          // Bun's WebSocket takes request headers (the client's address, as a proxy would set it).
          const init = { headers: { "x-forwarded-for": client }, protocols: ["graphql-transport-ws"] };
          const ws = new WebSocket(url.replace(/^http/, "ws"), init as unknown as string[]);
          ws.onopen = () => (ws.close(), resolve("open"));
          ws.onerror = () => resolve("refused");
          ws.onclose = () => resolve("refused");
        });
      expect(await wsOutcome(limitedClient)).toBe("refused");
      expect(await wsOutcome(newClient())).toBe("open");
    });

    test("rate limit: operations sent on an open WebSocket count against the client's budget; over it, RATE_LIMITED per operation and the socket stays open", async () => {
      const client = newClient();
      const init = { headers: { "x-forwarded-for": client }, protocols: ["graphql-transport-ws"] };
      const ws = new WebSocket(url.replace(/^http/, "ws"), init as unknown as string[]);
      const inbox: { type: string; id?: string; payload?: unknown }[] = [];
      let wake: (() => void) | undefined;
      ws.onmessage = (e) => {
        inbox.push(JSON.parse(String(e.data)) as { type: string; id?: string; payload?: unknown });
        wake?.();
      };
      const next = async (pred: (m: { type: string; id?: string; payload?: unknown }) => boolean) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const i = inbox.findIndex(pred);
          if (i >= 0) return inbox.splice(i, 1)[0]!;
          if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(inbox)}`);
          await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
        }
      };
      await new Promise<void>(
        (resolve, reject) => ((ws.onopen = () => resolve()), (ws.onerror = () => reject(new Error("socket refused")))),
      );
      ws.send(JSON.stringify({ type: "connection_init", payload: {} }));
      await next((m) => m.type === "connection_ack");
      // The upgrade was one request of the budget; each operation is one more.
      let allowed = 0;
      let refused: { type: string; payload?: unknown } | undefined;
      for (let i = 0; i < 2 * RATE_LIMIT_MAX && !refused; i++) {
        ws.send(JSON.stringify({ id: `op${i}`, type: "subscribe", payload: { query: "{ __typename }" } }));
        const m = await next((m) => m.id === `op${i}` && (m.type === "next" || m.type === "error"));
        if (m.type === "next") {
          allowed++;
          await next((m) => m.id === `op${i}` && m.type === "complete");
        } else refused = m;
      }
      expect(allowed).toBe(RATE_LIMIT_MAX - 1);
      const errors = refused?.payload as GqlError[] | undefined;
      expect(errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
      expect(Number(errors?.[0]?.extensions?.["retryAfterS"])).toBeGreaterThanOrEqual(1);
      // The socket is still open; the next operation is refused the same way.
      expect(ws.readyState).toBe(WebSocket.OPEN);
      ws.send(JSON.stringify({ id: "again", type: "subscribe", payload: { query: "{ __typename }" } }));
      expect((await next((m) => m.id === "again")).type).toBe("error");
      // HTTP requests of the same client share the budget: refused too.
      expect((await post(url, client, "{ __typename }")).status).toBe(429);
      ws.close();
    });

    test("rate limit: N accounts registered from one address do not give it N budgets; a token never lifts the IP budget", async () => {
      const client = newClient();
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) tokens.push((await registerFrom(url, client)).token);
      let allowed = 0;
      let refused: Answer | undefined;
      for (let i = 0; i < 4 * RATE_LIMIT_MAX && !refused; i++) {
        const r = await post(url, client, "{ __typename }", {}, { authorization: `Bearer ${tokens[i % tokens.length]}` });
        if (r.status === 200) allowed++;
        else refused = r;
      }
      // Per-account budgets alone would allow 3 x RATE_LIMIT_MAX; the address has RATE_LIMIT_IP_MAX, 3 used by the registrations.
      expect(allowed).toBe(RATE_LIMIT_MAX - 3);
      expect(refused?.status).toBe(429);
      expect(refused?.codes).toEqual(["RATE_LIMITED"]);
    });

    test(`registration/login budget: the ${RATE_LIMIT_AUTH_MAX + 1}th login from one address is 429 RATE_LIMITED; other operations from it pass`, async () => {
      const { email } = await registerFrom(url, newClient());
      const client = newClient();
      for (let i = 0; i < RATE_LIMIT_AUTH_MAX; i++)
        expect((await post(url, client, LOGIN, { email, password: PASSWORD })).status).toBe(200);
      const refused = await post(url, client, LOGIN, { email, password: PASSWORD });
      expect(refused.status).toBe(429);
      expect(refused.codes).toEqual(["RATE_LIMITED"]);
      expect(refused.body.errors?.[0]?.extensions?.["retryAfterS"]).toBe(Number(refused.headers.get("retry-after")));
      const other = await post(url, client, "{ categories { id } }");
      expect(other.status).toBe(200);
      expect(Array.isArray(other.body.data?.["categories"])).toBe(true);
      expect((await post(url, newClient(), LOGIN, { email, password: PASSWORD })).status).toBe(200);
    });

    if (name === "split") {
      let second: string | undefined;
      /** A second gateway process on the same NATS, started once for the split tests. */
      const secondGateway = async (): Promise<string> => {
        if (second) return second;
        const split = (t as Topology & { split: SplitTopology }).split;
        const port = await freePort();
        await split.spawn("gateway", "gateway-protection-2", { PORT: String(port) });
        return (second = `http://127.0.0.1:${port}/graphql`);
      };

      test("split: two gateways share one registration/login budget (NATS KV): logins alternating between them are refused after RATE_LIMIT_AUTH_MAX in total", async () => {
        const urls = [url, await secondGateway()];
        const { email } = await registerFrom(url, newClient());
        const client = newClient();
        const statuses: number[] = [];
        for (let i = 0; i < 2 * RATE_LIMIT_AUTH_MAX && !statuses.includes(429); i++)
          statuses.push((await post(urls[i % 2] as string, client, LOGIN, { email, password: PASSWORD })).status);
        // Separate budgets would have allowed 2 x RATE_LIMIT_AUTH_MAX.
        expect(statuses).toEqual([...Array<number>(RATE_LIMIT_AUTH_MAX).fill(200), 429]);
      }, 120_000);

      test("split: two gateways share one limit (NATS KV): a client alternating between them is refused after RATE_LIMIT_MAX in total", async () => {
        const urls = [url, await secondGateway()];
        const client = newClient();
        const statuses: number[] = [];
        let allowed = 0;
        for (let i = 0; i < 2 * RATE_LIMIT_MAX + 1 && !statuses.includes(429); i++) {
          const r = await post(urls[i % 2] as string, client, "{ __typename }");
          statuses.push(r.status);
          if (r.status === 200) allowed++;
        }
        expect(statuses).toContain(429);
        // Separate limiters would have allowed 2 × RATE_LIMIT_MAX; one shared limit allows RATE_LIMIT_MAX.
        // (Windows are whole UTC days here: a boundary inside this loop would mean it ran across midnight.)
        expect(allowed).toBe(RATE_LIMIT_MAX);
        const byGateway = [0, 1].map((g) => statuses.filter((s, i) => i % 2 === g && s === 200).length);
        expect(byGateway[0]).toBeGreaterThan(0);
        expect(byGateway[1]).toBeGreaterThan(0);
      }, 120_000);
    }
  });
}
