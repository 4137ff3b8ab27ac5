import { signToken } from "../../src/kernel/auth/jwt.ts";

/** `Authorization` header of a short-lived token with the `admin` role, signed with `jwtSecret`. */
export async function adminAuth(jwtSecret: string): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await signToken(jwtSecret, { accountId: "ops-test-admin", roles: ["admin"] }, 600)}` };
}

/** `GET <opsUrl><path>` with an admin token (operations listener: `/admin/*`). */
export async function adminGet(opsUrl: string, jwtSecret: string, path: string): Promise<Response> {
  return fetch(`${opsUrl}${path}`, { headers: await adminAuth(jwtSecret) });
}

/** `GET <opsUrl><path>` as JSON with an admin token; throws on a non-2xx answer. */
export async function adminJson<T>(opsUrl: string, jwtSecret: string, path: string): Promise<T> {
  const res = await adminGet(opsUrl, jwtSecret, path);
  if (!res.ok) throw new Error(`GET ${path} on the ops listener: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Base URL of the operations listener a process logged (`ops endpoints on http://...`). */
export function opsUrlOf(output: string): string {
  const m = /ops endpoints on (http:\/\/[^\s"]+)/.exec(output);
  if (!m?.[1]) throw new Error("no ops endpoint in the process output");
  return m[1];
}
