import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Hono } from "hono";
import { clientIp } from "../../src/gateway/middleware/client-ip.ts";
import { corsAllowList } from "../../src/gateway/middleware/cors.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";

// A whole monolith in process on a loaded machine: bun's 5 s default is too short.
setDefaultTimeout(30_000);

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;

describe("clientIp (real Bun server)", () => {
  let server: ReturnType<typeof Bun.serve>;
  let base: string;
  beforeAll(() => {
    const app = new Hono();
    app.get("/ip", (c) => c.text(clientIp(c, c.req.query("trust") === "1")));
    server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => void server.stop(true));
  const ip = async (trust: boolean, headers: Record<string, string> = {}) =>
    (await fetch(`${base}/ip${trust ? "?trust=1" : ""}`, { headers })).text();

  test("without TRUST_PROXY: the socket peer, whatever the headers say", async () => {
    expect(await ip(false)).toBe("127.0.0.1");
    expect(await ip(false, { "x-forwarded-for": "203.0.113.9", "fly-client-ip": "198.51.100.7" })).toBe("127.0.0.1");
  });

  test("with TRUST_PROXY: Fly-Client-IP, else the last X-Forwarded-For entry, else the peer", async () => {
    expect(await ip(true, { "x-forwarded-for": "203.0.113.9", "fly-client-ip": "198.51.100.7" })).toBe("198.51.100.7");
    expect(await ip(true, { "x-forwarded-for": "6.6.6.6, 203.0.113.9" })).toBe("203.0.113.9");
    expect(await ip(true)).toBe("127.0.0.1");
  });
});

test("corsAllowList: no middleware at all for an empty list", () => {
  expect(corsAllowList([])).toBeNull();
});

describe("gateway HTTP protection (in-process monolith)", () => {
  let gw: InProcessGateway;
  let base: string;
  beforeAll(async () => {
    gw = await startInProcess({
      rateLimitMax: 5,
      rateLimitIpMax: 20,
      rateLimitAuthMax: 10,
      rateLimitWindowS: 3600,
      trustProxy: true,
      corsOrigins: ["https://shop.example"],
      maxBodyBytes: 4096,
    });
    base = gw.url.replace(/\/graphql$/, "");
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  // Each test is its own client (TRUST_PROXY=true in this gateway), so budgets do not mix.
  let n = 0;
  const newClient = () => `192.0.2.${++n}`;
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(gw.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  test("security headers on /graphql and the other routes", async () => {
    for (const res of [await post({ query: "{ __typename }" }, { "x-forwarded-for": newClient() }), await fetch(`${base}/health/live`)]) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-powered-by")).toBeNull();
    }
  });

  test("CORS: an allowed origin gets the headers (preflight and request), another origin none", async () => {
    const pre = await fetch(gw.url, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const res = await post({ query: "{ __typename }" }, { origin: "https://shop.example", "x-forwarded-for": newClient() });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");

    const evilPre = await fetch(gw.url, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(evilPre.headers.get("access-control-allow-origin")).toBeNull();
    const evil = await post({ query: "{ __typename }" }, { origin: "https://evil.example", "x-forwarded-for": newClient() });
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("body over MAX_BODY_BYTES: 413 PAYLOAD_TOO_LARGE with the request id, declared or streamed", async () => {
    const big = JSON.stringify({ query: `{ __typename }`, variables: { pad: "x".repeat(5000) } });
    const declared = await post(big, { "x-forwarded-for": newClient(), "x-request-id": "big-1" });
    expect(declared.status).toBe(413);
    const body = (await declared.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions).toMatchObject({ code: "PAYLOAD_TOO_LARGE", requestId: "big-1", limit: 4096 });
    expect(declared.headers.get("x-request-id")).toBe("big-1");

    // Chunked (no Content-Length): read only up to the limit, then refused all the same.
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let i = 0; i < bytes.length; i += 1000) ctl.enqueue(bytes.slice(i, i + 1000));
        ctl.close();
      },
    });
    const streamed = await fetch(gw.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": newClient() },
      body: stream,
    });
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe(
      "PAYLOAD_TOO_LARGE",
    );

    const small = await post({ query: "{ __typename }", variables: { pad: "x".repeat(3000) } }, { "x-forwarded-for": newClient() });
    expect(small.status).toBe(200);
  });

  test("rate limit: RATE_LIMIT_IP_MAX requests of an address pass, the next is 429 + Retry-After + RATE_LIMITED; other clients are unaffected", async () => {
    const me = newClient();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 21; i++) {
      last = await post({ query: "{ __typename }" }, { "x-forwarded-for": me });
      statuses.push(last.status);
      if (i < 20) expect(last.headers.get("ratelimit-remaining")).toBe(String(19 - i));
    }
    expect(statuses).toEqual([...Array<number>(20).fill(200), 429]);
    const retryAfter = Number(last?.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600).toBe(true);
    const body = (await last?.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", retryAfterS: retryAfter });
    expect(typeof body.errors[0]?.extensions["requestId"]).toBe("string");
    expect((await post({ query: "{ __typename }" }, { "x-forwarded-for": newClient() })).status).toBe(200);
  });

  test("rate limit: a token's account is one client whatever its IP; CORS preflights are not counted", async () => {
    const reg = (await (
      await post(
        {
          query: REGISTER,
          variables: { input: { name: "Rate", email: `rate.${crypto.randomUUID()}@example.com`, password: "long enough pw" } },
        },
        { "x-forwarded-for": newClient() },
      )
    ).json()) as { data: { register: { token: string } } };
    const auth = { authorization: `Bearer ${reg.data.register.token}` };
    for (let i = 0; i < 3; i++)
      await fetch(gw.url, { method: "OPTIONS", headers: { origin: "https://shop.example", "access-control-request-method": "POST" } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await post({ query: "{ __typename }" }, { ...auth, "x-forwarded-for": newClient() })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  test("rate limit: N accounts registered from one address do not give it N budgets (a token never lifts the IP budget)", async () => {
    const me = newClient();
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = (await (
        await post(
          {
            query: REGISTER,
            variables: { input: { name: "Many", email: `many.${crypto.randomUUID()}@example.com`, password: "long enough pw" } },
          },
          { "x-forwarded-for": me },
        )
      ).json()) as { data: { register: { token: string } } };
      tokens.push(r.data.register.token);
    }
    let allowed = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const res = await post({ query: "{ __typename }" }, { authorization: `Bearer ${tokens[i % tokens.length]}`, "x-forwarded-for": me });
      if (res.status === 200) allowed++;
      else refused = res;
    }
    // One budget per account would allow 5 accounts x RATE_LIMIT_MAX (5) = 25; the address has
    // RATE_LIMIT_IP_MAX (20), 5 of which the registrations used.
    expect(allowed).toBe(15);
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get("ratelimit-limit")).toBe("20");
    // Another address with one of those tokens still gets that account's remaining budget.
    expect((await post({ query: "{ __typename }" }, { authorization: `Bearer ${tokens[0]}`, "x-forwarded-for": newClient() })).status).toBe(
      200,
    );
  });

  test("rate limit: an invalid token counts against the IP (and is still refused with 401)", async () => {
    const me = newClient();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++)
      statuses.push((await post({ query: "{ __typename }" }, { authorization: `Bearer forged.${i}.token`, "x-forwarded-for": me })).status);
    expect(statuses).toEqual([...Array<number>(20).fill(401), 429]);
  });
});
