import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startInProcess, type InProcessGateway } from "./harness.ts";

// Whole monoliths in process (password hashing on every login) on a loaded machine.
setDefaultTimeout(60_000);

/**
 * The registration/login budget per client IP (RATE_LIMIT_AUTH_MAX, default 10 per window),
 * counted by the gateway plugin that sees the mutation fields (plugins/auth-rate-limit.ts), over
 * HTTP, and the client IP it is keyed by (TRUST_PROXY: Fly-Client-IP only when set).
 */
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
const LOGIN = `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }`;
const PASSWORD = "long enough password";

interface Answer {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function send(
  gw: InProcessGateway,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<Answer> {
  const res = await gw.request("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer["body"] };
}

async function register(gw: InProcessGateway, headers: Record<string, string>): Promise<{ email: string; answer: Answer }> {
  const email = `auth.${crypto.randomUUID()}@example.com`;
  return { email, answer: await send(gw, REGISTER, { input: { name: "Auth Budget", email, password: PASSWORD } }, headers) };
}

const login = (gw: InProcessGateway, email: string, headers: Record<string, string>) =>
  send(gw, LOGIN, { email, password: PASSWORD }, headers);
const codes = (a: Answer) => (a.body.errors ?? []).map((e) => e.extensions?.["code"]);

describe("registration/login budget per IP, TRUST_PROXY=true (in-process monolith)", () => {
  let gw: InProcessGateway;
  let email: string;
  let seq = 0;
  const newIp = () => `198.51.100.${++seq}`;
  beforeAll(async () => {
    gw = await startInProcess({ rateLimitMax: 1000, rateLimitIpMax: 1000, rateLimitAuthMax: 10, rateLimitWindowS: 3600, trustProxy: true });
    const r = await register(gw, { "fly-client-ip": newIp() });
    expect(r.answer.status).toBe(200);
    email = r.email;
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("the 11th login from one address is refused (429 RATE_LIMITED, Retry-After, retryAfterS); other operations and other addresses pass", async () => {
    const me = newIp();
    for (let i = 0; i < 10; i++) {
      const ok = await login(gw, email, { "fly-client-ip": me });
      expect(ok.status).toBe(200);
      expect(typeof (ok.body.data?.["login"] as { token?: unknown } | undefined)?.token).toBe("string");
    }
    const refused = await login(gw, email, { "fly-client-ip": me, "x-request-id": "auth-budget-11" });
    expect(refused.status).toBe(429);
    expect(codes(refused)).toEqual(["RATE_LIMITED"]);
    expect(refused.body.data ?? null).toBeNull();
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600).toBe(true);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({
      code: "RATE_LIMITED",
      retryAfterS: retryAfter,
      requestId: "auth-budget-11",
    });
    expect(refused.body.errors?.[0]?.extensions?.["http"]).toBeUndefined();
    // Registration shares the budget; a wrong password is an attempt all the same.
    const refusedRegistration = await register(gw, { "fly-client-ip": me });
    expect(refusedRegistration.answer.status).toBe(429);
    // ...and wrote nothing: that account does not exist.
    const ghost = await login(gw, refusedRegistration.email, { "fly-client-ip": newIp() });
    expect(ghost.body.data?.["login"] ?? null).toBeNull();
    expect(codes(ghost)).not.toContain("RATE_LIMITED");
    expect((await send(gw, LOGIN, { email, password: "wrong password!" }, { "fly-client-ip": me })).status).toBe(429);
    // Other operations from that address still pass, as do logins from another address.
    const other = await send(gw, "{ categories { id } }", {}, { "fly-client-ip": me });
    expect(other.status).toBe(200);
    expect(Array.isArray(other.body.data?.["categories"])).toBe(true);
    expect((await login(gw, email, { "fly-client-ip": newIp() })).status).toBe(200);
  });

  test("every login field of a request counts: 10 aliased logins use up the budget in one request", async () => {
    const me = newIp();
    const aliases = Array.from({ length: 10 }, (_, i) => `l${i}: login(email: $email, password: $password) { token }`).join(" ");
    const ten = await send(
      gw,
      `mutation($email: String!, $password: String!) { ${aliases} }`,
      { email, password: PASSWORD },
      { "fly-client-ip": me },
    );
    expect(ten.status).toBe(200);
    expect(Object.keys(ten.body.data ?? {})).toHaveLength(10);
    // Through a fragment too.
    const viaFragment = await send(
      gw,
      `mutation($email: String!, $password: String!) { ...L } fragment L on Mutation { login(email: $email, password: $password) { token } }`,
      { email, password: PASSWORD },
      { "fly-client-ip": me },
    );
    expect(viaFragment.status).toBe(429);
    expect(codes(viaFragment)).toEqual(["RATE_LIMITED"]);
  });

  test("TRUST_PROXY=true: the budget is keyed by Fly-Client-IP (it wins over X-Forwarded-For)", async () => {
    const [a, b] = [newIp(), newIp()];
    for (let i = 0; i < 10; i++) expect((await login(gw, email, { "fly-client-ip": a, "x-forwarded-for": b })).status).toBe(200);
    expect((await login(gw, email, { "fly-client-ip": a, "x-forwarded-for": newIp() })).status).toBe(429);
    // b itself (as Fly-Client-IP) used none of its budget.
    expect((await login(gw, email, { "fly-client-ip": b, "x-forwarded-for": a })).status).toBe(200);
  });
});

describe("registration/login budget per IP, TRUST_PROXY=false (in-process monolith)", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess({ rateLimitAuthMax: 3, rateLimitWindowS: 3600, trustProxy: false });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("Fly-Client-IP and X-Forwarded-For are ignored: every request is the socket peer's, so varying them does not give more attempts", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++)
      statuses.push((await register(gw, { "fly-client-ip": `203.0.113.${i}`, "x-forwarded-for": `192.0.2.${i}` })).answer.status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
