import type { Bus } from "../../kernel/bus/types.ts";
import { encodeJson } from "../../kernel/bus/codec.ts";
import { subgraphSubject } from "../../kernel/module.ts";

/** The federation introspection query every subgraph answers (Apollo Federation subgraph spec). */
export const SERVICE_SDL_QUERY = "query __ApolloGetServiceDefinition__ { _service { sdl } }";

/** Thrown when a subgraph's SDL cannot be fetched. */
export class SdlFetchError extends Error {
  override readonly name = "SdlFetchError";
  constructor(
    readonly subgraph: string,
    message: string,
  ) {
    super(`subgraph ${subgraph}: ${message}`);
  }
}

/**
 * Fetches a subgraph's SDL by sending `{ _service { sdl } }` to `graphql.<name>` over the bus.
 * @param timeoutMs request timeout in ms.
 * @throws SdlFetchError when the request fails or the reply has no SDL.
 */
export async function fetchSubgraphSdl(bus: Bus, name: string, timeoutMs: number): Promise<string> {
  let body: { data?: { _service?: { sdl?: string } }; errors?: { message: string }[] };
  try {
    const reply = await bus.request(subgraphSubject(name), encodeJson({ query: SERVICE_SDL_QUERY }), { timeoutMs });
    body = reply.json();
  } catch (err) {
    throw new SdlFetchError(name, err instanceof Error ? err.message : String(err));
  }
  const sdl = body.data?._service?.sdl;
  if (!sdl) throw new SdlFetchError(name, `no SDL in reply (${body.errors?.map((e) => e.message).join("; ") ?? "empty"})`);
  return sdl;
}
