import { AppError, ErrorCode } from "../errors.ts";
import { decodeJson, encodeJson } from "./codec.ts";
import type { Bus, Headers, Msg, Subscription } from "./types.ts";

/**
 * Typed request/reply on top of the bus: JSON bodies, and errors carried across the wire so
 * that an {@link AppError} thrown by a responder is re-thrown by the caller with the same
 * code. A failed reply carries header {@link ERROR_HEADER} = code and body
 * `{ message, details }`.
 */
export const ERROR_HEADER = "sy-error";

/** What a responder learns about the request besides its body. */
export interface RequestMeta {
  subject: string;
  headers: Headers;
}

/** Wire shape of an error reply body. */
interface ErrorBody {
  message: string;
  details?: Record<string, unknown>;
}

/** Called when a responder throws something that is not an AppError (a bug): for logging. */
export type UnexpectedErrorHook = (err: unknown, meta: RequestMeta) => void;

/**
 * Serves `subject` with a JSON handler. Thrown `AppError`s are replied with their code;
 * anything else is replied as `INTERNAL_SERVER_ERROR` (message hidden) and reported to
 * `onUnexpected`.
 */
export function serveJson<Req, Res>(
  bus: Bus,
  subject: string,
  handler: (req: Req, meta: RequestMeta) => Res | Promise<Res>,
  opts: { queue?: string; onUnexpected?: UnexpectedErrorHook } = {},
): Subscription {
  return bus.subscribe(
    subject,
    async (msg: Msg) => {
      const meta: RequestMeta = { subject: msg.subject, headers: msg.headers };
      try {
        const req = msg.data.length ? msg.json<Req>() : (undefined as Req);
        const res = await handler(req, meta);
        msg.respond(encodeJson(res ?? null));
      } catch (err) {
        if (err instanceof AppError) {
          const body: ErrorBody = { message: err.message, ...(err.details ? { details: err.details } : {}) };
          msg.respond(encodeJson(body), { headers: { [ERROR_HEADER]: err.code } });
        } else {
          opts.onUnexpected?.(err, meta);
          msg.respond(encodeJson({ message: "internal error" } satisfies ErrorBody), {
            headers: { [ERROR_HEADER]: ErrorCode.INTERNAL },
          });
        }
      }
    },
    opts.queue ? { queue: opts.queue } : {},
  );
}

/**
 * Sends a JSON request and decodes the JSON reply.
 * @throws AppError with the responder's code when it replied with an error.
 * @throws BusTimeoutError | NoRespondersError | BusClosedError from the transport.
 */
export async function requestJson<Res>(
  bus: Bus,
  subject: string,
  body: unknown,
  opts: { timeoutMs?: number; headers?: Headers } = {},
): Promise<Res> {
  const reply = await bus.request(subject, encodeJson(body ?? null), opts);
  const code = reply.headers[ERROR_HEADER];
  if (code) {
    const err = decodeJson<ErrorBody>(reply.data);
    throw new AppError(code, err.message, err.details);
  }
  return decodeJson<Res>(reply.data);
}
