import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient, type Client, type ExecutionResult } from "graphql-ws";
import { signToken } from "../../src/kernel/auth/jwt.ts";

import { startInProcess, type InProcessGateway } from "./harness.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The session guard on the WebSocket transport (the monolith in process): a token of a
 * missing account is refused at connection_init, and an open socket cannot start new
 * operations once its session is logged out.
 */

function ws(url: string, token: string, onClosed?: (code: number) => void): Client {
  return createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { authorization: `Bearer ${token}` },
    on: { closed: (e) => onClosed?.((e as CloseEvent).code) },
    onNonLazyError: () => {},
  });
}

/** Runs one operation on the socket; resolves with its result (errors included) or the socket error. */
function once(client: Client, query: string): Promise<ExecutionResult | { socketError: unknown }> {
  return new Promise((resolve) => {
    let result: ExecutionResult | undefined;
    client.subscribe(
      { query },
      {
        next: (r) => void (result = r as ExecutionResult),
        error: (err) => resolve(Array.isArray(err) ? { errors: err } : { socketError: err }),
        complete: () => resolve(result ?? {}),
      },
    );
  });
}

describe("session guard over WebSocket", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  test("a validly signed token of a missing account is refused at connection_init (4403)", async () => {
    const ghost = await signToken(gw.config.jwtSecret as string, { accountId: "ws-ghost", roles: ["customer"] }, 600);
    let code = 0;
    const c = ws(gw.url, ghost, (c2) => (code = c2));
    await once(c, "{ me { id } }");
    await eventually("the socket to close", () => code !== 0, { timeoutMs: 5000, intervalMs: 20 });
    expect(code).toBe(4403);
    await c.dispose();
  });

  test("an open socket cannot start operations after its session logged out", async () => {
    const r = await gw.gql<{ register: { token: string; account: { id: string } } }>(
      `mutation { register(input: { name: "Wes", email: "wes@example.com", password: "correct horse battery" }) { token account { id } } }`,
    );
    const token = r.data?.register.token as string;
    const c = ws(gw.url, token);
    try {
      expect(await once(c, "{ me { id } }")).toEqual({ data: { me: { id: r.data?.register.account.id as string } } });
      expect((await gw.gql(`mutation { logout }`, {}, token)).data).toEqual({ logout: true });
      let last: unknown;
      await eventually(
        "the socket's next operation to be refused",
        async () => {
          last = await once(c, "{ me { id } }");
          const errors = (last as ExecutionResult).errors ?? [];
          return errors.some((e) => e.extensions?.["code"] === "UNAUTHENTICATED");
        },
        { timeoutMs: 5000, intervalMs: 20 },
      );
      expect((last as ExecutionResult).data ?? null).toBeNull();
    } finally {
      await c.dispose();
    }
  });
});

describe("mutations over WebSocket", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    // Over the socket: the budget is per client address, shared by HTTP and the WebSocket.
    gw = await startInProcess({ rateLimitAuthMax: 3 }, { http: "socket" });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  // graphql-ws runs queries and mutations too; yoga refused mutations on the socket because the
  // operation's request was the GET upgrade ("Can only perform a mutation operation from a POST request").
  test("a mutation sent on the socket runs like over HTTP (and counts against the registration/login budget)", async () => {
    const r = await gw.gql<{ register: { token: string; account: { id: string } } }>(
      `mutation { register(input: { name: "Wanda", email: "wanda@example.com", password: "correct horse battery" }) { token account { id } } }`,
    );
    const token = r.data?.register.token as string;
    const c = ws(gw.url, token);
    try {
      const login = await once(c, `mutation { login(email: "wanda@example.com", password: "correct horse battery") { account { id } } }`);
      expect(login).toEqual({ data: { login: { account: { id: r.data?.register.account.id as string } } } });
      // register (HTTP) and this login used 2 of the address's 3 attempts: one more passes, the next is refused.
      expect(
        await once(c, `mutation { login(email: "wanda@example.com", password: "correct horse battery") { account { id } } }`),
      ).toHaveProperty("data.login.account.id");
      const refused = (await once(
        c,
        `mutation { login(email: "wanda@example.com", password: "correct horse battery") { account { id } } }`,
      )) as ExecutionResult;
      expect(refused.errors?.[0]?.extensions?.["code"]).toBe("RATE_LIMITED");
    } finally {
      await c.dispose();
    }
  });
});
