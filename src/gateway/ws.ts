import { getOperationAST, type ExecutionArgs, type ExecutionResult as GraphQLExecutionResult } from "graphql";
import type { Server, WebSocketHandler } from "bun";
import { CloseCode, type ExecutionResult } from "graphql-ws";
import { isAsyncIterable, mapAsyncIterator } from "graphql-yoga";
import { handleProtocols, makeHandler } from "graphql-ws/use/bun";
import type { YogaServerInstance } from "graphql-yoga";
import { newId } from "../kernel/ids.ts";
import type { Identity } from "../kernel/identity.ts";
import type { Logger } from "../kernel/logger.ts";
import { authenticate } from "./auth.ts";
import type { GatewayContext } from "./context.ts";
import { limitOperation, storeFailureLogger, type RateLimits } from "./middleware/rate-limit.ts";
import { releasing, type SubscriptionSlots } from "./plugins/subscription-limits.ts";
import type { SessionGuard } from "./sessions.ts";
import { GraphQLError } from "graphql";
import { jsonDepthError } from "./plugins/json-depth.ts";
import { requestErrorResult } from "./plugins/request-errors.ts";
import { withMaskedRequestIds } from "./error-masking.ts";

/**
 * GraphQL over WebSocket (the `graphql-transport-ws` protocol of the `graphql-ws` library) on
 * the same `/graphql` endpoint, with Bun's native WebSocket server. Every operation runs
 * through the same yoga/envelop pipeline as HTTP (`yoga.getEnveloped`: schema = current
 * supergraph, the gateway's plugins, error masking), so queries, mutations and subscriptions
 * behave as over HTTP.
 *
 * Authentication: the client sends its token in the `connection_init` payload,
 * `{ "authorization": "Bearer <jwt>" }` (browsers cannot set headers on a WebSocket); without
 * it, an `Authorization` header on the upgrade request is used. No token = anonymous (public
 * subscriptions such as `productStockChanged` work; protected ones answer `UNAUTHENTICATED`).
 * A malformed, forged or expired token closes the socket with code **4403** (`Forbidden`,
 * graphql-ws's code for a refused `connection_init`); the client should not retry with the
 * same token. The token is checked once per connection.
 *
 * Rate limit: the upgrade is one request of the HTTP rate limit (middleware/rate-limit.ts), and
 * every operation sent on the socket (`subscribe` message) counts as one more against the same
 * budgets (the upgrade's address and, with a `connection_init` token, its account).
 * Over the limit, that operation gets an `error` message with `RATE_LIMITED` and
 * `extensions.retryAfterS`; the socket and its other operations stay open.
 *
 * Subscription caps (plugins/subscription-limits.ts): a subscription over the per-connection,
 * per-account or per-IP cap gets an `error` message with `SUBSCRIPTION_LIMIT`; the socket and its
 * other subscriptions stay open. A slot is freed when its subscription completes (either side)
 * or the socket closes.
 */

/**
 * The request the socket's operations run with: the upgrade's URL and headers, as a POST. The
 * upgrade itself is a GET, and yoga refuses mutations whose request is a GET (a CSRF guard for
 * HTTP that does not apply to a socket, which only a graphql-transport-ws client can open).
 */
function operationRequest(upgrade: Request): Request {
  return new Request(upgrade.url, { method: "POST", headers: upgrade.headers });
}

/** What Bun keeps per socket (set at upgrade time). */
export interface WsData {
  /** The upgrade request's URL and headers as a POST (auth fallback; plugins reading `request`): see `operationRequest`. */
  request: Request;
  /** The client address of the upgrade request (middleware/client-ip.ts); undefined when no middleware resolved it. */
  clientIp: string | undefined;
}

/** Per-connection state graphql-ws keeps in `ctx.extra` (besides the socket). */
interface WsExtra extends Record<PropertyKey, unknown> {
  identity: Identity | null;
  /** Releases of the subscription slots this connection holds (one per running subscription). */
  slots?: Set<() => void>;
}

/** The `connection_init` payload the gateway reads. */
export interface WsConnectionParams extends Record<string, unknown> {
  /** `Bearer <jwt>`; `Authorization` is accepted too. */
  authorization?: string;
}

/** Close code for a refused token at `connection_init` (graphql-ws `CloseCode.Forbidden`). */
export const WS_CLOSE_INVALID_TOKEN = CloseCode.Forbidden;

export interface GraphQLWsServer {
  /**
   * Upgrades a `/graphql` WebSocket request speaking `graphql-transport-ws`; returns a
   * Response when the request is a WebSocket request that cannot be served (wrong
   * subprotocol: 400), `undefined` when it was upgraded (Bun answers) and `null` when it is
   * not a WebSocket request (serve it over HTTP).
   */
  upgrade(req: Request, server: Server<WsData>, clientIp?: string): Response | undefined | null;
  /** Bun's `websocket` handler for `Bun.serve`. */
  websocket: WebSocketHandler<WsData>;
}

/** Creates the WebSocket side of the gateway for `Bun.serve({ fetch, websocket })`. */
export function createGraphQLWsServer(opts: {
  yoga: YogaServerInstance<GatewayContext, object>;
  jwtSecret: string;
  logger: Logger;
  path?: string;
  limits?: RateLimits | undefined;
  subscriptionSlots?: SubscriptionSlots | undefined;
  sessions?: SessionGuard | undefined;
  /** `MAX_JSON_DEPTH` for the variables and extensions of a `subscribe` message (0 or absent: no limit). */
  maxJsonDepth?: number;
}): GraphQLWsServer {
  const path = opts.path ?? "/graphql";
  const onStoreError = storeFailureLogger(opts.logger, "websocket operations");
  const handler = makeHandler<WsConnectionParams, WsExtra>({
    async onConnect(ctx) {
      const params = ctx.connectionParams ?? {};
      const raw = params.authorization ?? params["Authorization"];
      const header = typeof raw === "string" ? raw : dataOf(ctx.extra.socket).request.headers.get("authorization");
      const auth = await authenticate(header, opts.jwtSecret);
      if (!auth.ok) {
        opts.logger.info({ reason: auth.reason }, "websocket connection refused: invalid token");
        return false; // graphql-ws closes with 4403 Forbidden
      }
      // Account missing or disabled, session revoked (or not checkable): refused like a bad token.
      const verdict = auth.identity && opts.sessions ? await opts.sessions.check(auth.identity) : undefined;
      if (verdict && !verdict.ok) {
        opts.logger.info({ reason: verdict.reason }, "websocket connection refused: token's session not active");
        return false;
      }
      ctx.extra.identity = auth.identity;
      return true;
    },
    async onSubscribe(ctx, _id, payload) {
      const { request, clientIp } = dataOf(ctx.extra.socket);
      // Checked again per operation (cached answers): a socket opened before a logout or
      // disableAccount cannot start new operations with the revoked identity.
      const identity = ctx.extra.identity;
      const verdict = identity && opts.sessions ? await opts.sessions.check(identity) : undefined;
      if (verdict && !verdict.ok) return [new GraphQLError(verdict.reason, { extensions: { code: verdict.code } })];
      const holder = { ip: clientIp ?? "unknown", accountId: ctx.extra.identity?.accountId };
      if (opts.limits) {
        const refused = await limitOperation(opts.limits, holder, onStoreError);
        if (refused) return [refused];
      }
      // As over HTTP (plugins/json-depth.ts): nothing recursive may see deeper nesting.
      const deep = opts.maxJsonDepth ? jsonDepthError(payload, opts.maxJsonDepth) : undefined;
      if (deep) return [deep];
      const gatewayContext: GatewayContext = { identity: ctx.extra.identity ?? null, requestId: newId(), clientIp, transport: "ws" };
      const { schema, execute, subscribe, contextFactory, parse, validate } = opts.yoga.getEnveloped({
        ...gatewayContext,
        request,
        params: payload,
      });
      let document: import("graphql").DocumentNode;
      try {
        document = parse(payload.query);
      } catch (err) {
        return [err as import("graphql").GraphQLError];
      }
      const errors = validate(schema, document);
      if (errors.length > 0) return errors;
      // Last check before running: a slot is taken only for a subscription that will start. It
      // is bound to this operation (not to its id, which a client may reuse once it sent
      // `complete`) and released when its stream ends (`subscribe` below) or the socket closes.
      let release: (() => void) | undefined;
      if (opts.subscriptionSlots && getOperationAST(document, payload.operationName)?.operation === "subscription") {
        const slots = (ctx.extra.slots ??= new Set());
        const full = opts.subscriptionSlots.connectionFull(slots.size);
        if (full) return [full];
        const slot = opts.subscriptionSlots.acquire(holder);
        if ("error" in slot) return [slot.error];
        const held = (): void => {
          slots.delete(held);
          slot.release();
        };
        slots.add(held);
        release = held;
      }
      const args: ExecutionArgs = {
        schema,
        document,
        operationName: payload.operationName ?? null,
        variableValues: payload.variables ?? null,
        contextValue: await contextFactory(),
        // Carries this operation's enveloped execute/subscribe (and slot release) to the handlers below.
        rootValue: { execute, subscribe, release } satisfies Enveloped,
      };
      return args;
    },
    // Safety net: graphql-ws returns every running stream on close (which releases), but a slot
    // must never outlive its socket.
    onClose: (ctx) => {
      for (const release of [...(ctx.extra.slots ?? [])]) release();
    },
    // A request error thrown by an executor (variables that do not coerce) is that operation's
    // result, as over HTTP; thrown on, it would close the whole socket (4500).
    execute: async (args) => {
      try {
        return finishMasked(await (args.rootValue as Enveloped).execute(args), args);
      } catch (err) {
        return requestErrorResult(err);
      }
    },
    subscribe: async (args) => {
      const { subscribe, release } = args.rootValue as Enveloped;
      try {
        const result = finishMasked(await subscribe(args), args);
        if (!release) return result;
        if (isAsyncIterable(result)) return releasing(result, release);
        release();
        return result;
      } catch (err) {
        release?.();
        return requestErrorResult(err);
      }
    },
  });

  return {
    upgrade(req, server, clientIp) {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return null;
      if (new URL(req.url).pathname !== path) return null;
      const protocol = handleProtocols(req.headers.get("sec-websocket-protocol") ?? "");
      if (!protocol) return new Response("unsupported WebSocket subprotocol: use graphql-transport-ws", { status: 400 });
      if (server.upgrade(req, { data: { request: operationRequest(req), clientIp }, headers: { "sec-websocket-protocol": protocol } }))
        return undefined;
      return new Response("WebSocket upgrade failed", { status: 400 });
    },
    websocket: {
      ...(handler as WebSocketHandler<WsData>),
      // A failure in an operation's setup must close that socket, not reject into Bun (which
      // would take the process down as an unhandled rejection).
      async message(socket, message) {
        try {
          await (handler as Required<WebSocketHandler<WsData>>).message(socket, message);
        } catch (err) {
          // graphql-ws throws on a well-formed message of a type a client may not send (`next`,
          // `error`, ...), where the protocol asks for 4400 as for any invalid message.
          if (err instanceof Error && err.message.startsWith("Unexpected message of type")) {
            opts.logger.info({ reason: err.message }, "websocket closed: invalid message");
            socket.close(CloseCode.BadRequest, "Invalid message received");
            return;
          }
          opts.logger.error({ err }, "websocket message failed");
          socket.close(CloseCode.InternalServerError, "internal error");
        }
      },
    },
  };
}

/**
 * Errors yoga masked (error-masking.ts) get this operation's request id (and are logged with it),
 * as over HTTP; every event of a stream.
 */
function finishMasked<T>(result: T, args: ExecutionArgs): T {
  const requestId = (args.contextValue as GatewayContext).requestId;
  const finish = (r: GraphQLExecutionResult): GraphQLExecutionResult => withMaskedRequestIds(r, requestId);
  if (isAsyncIterable(result)) return mapAsyncIterator(result as AsyncIterable<GraphQLExecutionResult>, finish) as T;
  return finish(result as GraphQLExecutionResult) as T;
}

/** The data Bun attached at upgrade (graphql-ws types the socket without it). */
const dataOf = (socket: { data: unknown }): WsData => socket.data as WsData;

/** The enveloped execute/subscribe stored in `rootValue` by `onSubscribe`. */
interface Enveloped {
  execute: (
    args: ExecutionArgs,
  ) => ExecutionResult | Promise<ExecutionResult> | AsyncIterable<ExecutionResult> | Promise<AsyncIterable<ExecutionResult>>;
  subscribe: (
    args: ExecutionArgs,
  ) =>
    | ExecutionResult
    | Promise<ExecutionResult>
    | AsyncIterable<ExecutionResult>
    | Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;
  /** Frees the operation's subscription slot (idempotent); undefined when it holds none. */
  release: (() => void) | undefined;
}
