import { ClientError, GraphQLClient } from "graphql-request";
import { expect } from "bun:test";

/** A graphql-request client for the gateway, optionally authenticated. */
export function client(url: string, token?: string): GraphQLClient {
  return new GraphQLClient(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

/** Awaits `p`, expecting a GraphQL error whose `extensions.code` is `code`; returns the errors. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<{ message: string; extensions?: Record<string, unknown> }[]> {
  try {
    const data = await p;
    throw new Error(`expected a ${code} error, got data ${JSON.stringify(data)}`);
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    const errors = (err.response.errors ?? []) as { message: string; extensions?: Record<string, unknown> }[];
    expect(errors.map((e) => e.extensions?.["code"])).toContain(code);
    return errors;
  }
}

let seq = 0;
/** A unique e-mail address for a test account. */
export const uniqueEmail = (prefix = "user"): string => `${prefix}.${Date.now().toString(36)}.${++seq}@example.com`;

/** A GraphQL response as sent over HTTP (errors with their path and code). */
export interface GqlResponse<T> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } & Record<string, unknown> }[];
}

/**
 * POSTs one operation and returns the HTTP status and the parsed body, errors included (for
 * tests that read partial results and statuses, which graphql-request turns into exceptions).
 */
export async function postGraphql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<{ status: number; body: GqlResponse<T> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GqlResponse<T> };
}
