import { AppError, ErrorCode } from "../errors.ts";
import { encodeJson, jsonPayload } from "./codec.ts";
import type { Bus, Headers, Msg, Payload, Subscription } from "./types.ts";

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

/** Values their sender gave up (see {@link handOver}); weak: marking keeps nothing alive. */
const handedOver = new WeakSet<object>();

/**
 * Marks a request body (for {@link requestJson}) or a handler's reply (for {@link serveJson})
 * as given up by its sender, so that the in-memory bus hands the value itself to the recipient
 * instead of JSON-encoding and decoding it (`jsonPayload`, see codec.ts; NATS encodes as
 * always). Only for a fresh, JSON-shaped value (plain objects, arrays, strings, finite numbers,
 * booleans, null; no `undefined` fields, no Dates) that the sender neither keeps nor changes
 * afterwards, nor sends again (a retried call): the recipient may keep or change it. A cached
 * object must not be handed over; copy it first, or reply with it unmarked (encoded).
 * @returns `value` (marked).
 */
export function handOver<T extends object>(value: T): T {
  handedOver.add(value);
  return value;
}

/** The payload of a JSON value: the value itself when its sender handed it over, else its encoding. */
function payloadOf(value: unknown): Payload {
  // Consumed once: a value sent again (a retry) is encoded, never shared by two recipients.
  if (value !== null && typeof value === "object" && handedOver.delete(value)) return jsonPayload(value);
  return encodeJson(value ?? null);
}

/** The body of a request: its JSON value, undefined for an empty payload. */
function requestBody<Req>(msg: Msg): Req {
  try {
    // msg.json() first: a value passed in process would be encoded by reading msg.data.
    return msg.json<Req>();
  } catch (err) {
    if (msg.data.length === 0) return undefined as Req;
    throw err;
  }
}

/** Called when a responder throws something that is not an AppError (a bug): for logging. */
export type UnexpectedErrorHook = (err: unknown, meta: RequestMeta) => void;

/**
 * Serves `subject` with a JSON handler. Thrown `AppError`s are replied with their code;
 * anything else is replied as `INTERNAL_SERVER_ERROR` (message hidden) and reported to
 * `onUnexpected`. A reply marked with {@link handOver} goes to the requester as the value (in
 * process); error replies are fresh objects and always go as values.
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
        const req = requestBody<Req>(msg);
        const res = await handler(req, meta);
        msg.respond(payloadOf(res));
      } catch (err) {
        if (err instanceof AppError) {
          // The thrown error is dropped here; its details (built per throw) go with the body.
          const body: ErrorBody = { message: err.message, ...(err.details ? { details: err.details } : {}) };
          msg.respond(jsonPayload(body), { headers: { [ERROR_HEADER]: err.code } });
        } else {
          opts.onUnexpected?.(err, meta);
          msg.respond(jsonPayload({ message: "internal error" } satisfies ErrorBody), {
            headers: { [ERROR_HEADER]: ErrorCode.INTERNAL },
          });
        }
      }
    },
    opts.queue ? { queue: opts.queue } : {},
  );
}

/**
 * Sends a JSON request and decodes the JSON reply. A `body` marked with {@link handOver} goes
 * to the responder as the value (in process); the reply may be the responder's value too, which
 * the caller then owns.
 * @throws AppError with the responder's code when it replied with an error.
 * @throws BusTimeoutError | NoRespondersError | BusClosedError from the transport.
 */
export async function requestJson<Res>(
  bus: Bus,
  subject: string,
  body: unknown,
  opts: { timeoutMs?: number; headers?: Headers } = {},
): Promise<Res> {
  const reply = await bus.request(subject, payloadOf(body), opts);
  const code = reply.headers[ERROR_HEADER];
  if (code) {
    const err = reply.json<ErrorBody>();
    throw new AppError(code, err.message, err.details);
  }
  return reply.json<Res>();
}
