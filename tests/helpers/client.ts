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
