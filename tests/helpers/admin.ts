import { signToken } from "../../src/kernel/auth/jwt.ts";

/** A deployment to act on as an admin: its JWT secret and GraphQL endpoint (Topology fits). */
export interface AdminCaller {
  jwtSecret: string;
  graphqlUrl: string;
}

const accounts = new Map<string, Promise<string>>();

/**
 * Id of an account registered once per GraphQL endpoint for the admin token: the gateway's
 * session guard refuses tokens of accounts that do not exist, on `/admin/*` as on `/graphql`.
 */
function adminAccountId(graphqlUrl: string): Promise<string> {
  let id = accounts.get(graphqlUrl);
  if (!id) {
    const email = `ops-admin-${crypto.randomUUID()}@example.com`;
    const query = "mutation($input: RegisterInput!) { register(input: $input) { account { id } } }";
    id = fetch(graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables: { input: { name: "Ops Admin", email, password: "ops-admin-password" } } }),
    })
      .then((r) => r.json() as Promise<{ data?: { register?: { account: { id: string } } }; errors?: unknown }>)
      .then((r) => {
        const accountId = r.data?.register?.account.id;
        if (!accountId) throw new Error(`registering the ops admin failed: ${JSON.stringify(r.errors)}`);
        return accountId;
      });
    id.catch(() => accounts.delete(graphqlUrl));
    accounts.set(graphqlUrl, id);
  }
  return id;
}

/** `Authorization` header of a short-lived token with the `admin` role for a real account of `as`. */
export async function adminAuth(as: AdminCaller): Promise<{ authorization: string }> {
  const accountId = await adminAccountId(as.graphqlUrl);
  return { authorization: `Bearer ${await signToken(as.jwtSecret, { accountId, roles: ["customer", "admin"] }, 600)}` };
}

/** `GET <opsUrl><path>` with an admin token (operations listener: `/admin/*`). */
export async function adminGet(opsUrl: string, as: AdminCaller, path: string): Promise<Response> {
  return fetch(`${opsUrl}${path}`, { headers: await adminAuth(as) });
}

/** `GET <opsUrl><path>` as JSON with an admin token; throws on a non-2xx answer. */
export async function adminJson<T>(opsUrl: string, as: AdminCaller, path: string): Promise<T> {
  const res = await adminGet(opsUrl, as, path);
  if (!res.ok) throw new Error(`GET ${path} on the ops listener: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
