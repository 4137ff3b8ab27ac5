import type { z } from "zod";
import { AppError, ErrorCode } from "../errors.ts";
import { busInvalidPayloads } from "../metrics.ts";
import type { CommandDefinition, EventBase, EventDefinition } from "./define.ts";

/**
 * The kernel's checks of bus payloads against their contract (one zod parse per message): a
 * request on the responder's side before its handler, a reply on the caller's side, an event on
 * the consumer's side before its handler. The same code runs for both transports: on the memory
 * bus the payload is the sender's value, over NATS the decoded JSON; neither adds a JSON round trip.
 */

/** One problem of a refused payload: where (`items.0.quantity`, `(root)`) and what. */
export interface PayloadIssue {
  path: string;
  message: string;
}

/** At most this many issues go into an error's details and logs (a huge bad payload stays a short error). */
const MAX_ISSUES = 5;

/** The first {@link MAX_ISSUES} issues of a zod error, JSON-safe. */
export function issuesOf(error: z.ZodError): PayloadIssue[] {
  return error.issues
    .slice(0, MAX_ISSUES)
    .map((i) => ({ path: i.path.length > 0 ? i.path.map(String).join(".") : "(root)", message: i.message }));
}

const describe = (issues: readonly PayloadIssue[]): string => issues.map((i) => `${i.path}: ${i.message}`).join("; ");

/**
 * Parses a request body against its command's request schema.
 * @returns the parsed body (zod's copy: fields the schema does not declare are dropped).
 * @throws AppError `BAD_REQUEST` with details `{ subject, issues }`, counted in
 *   `switchyard_bus_invalid_payloads_total{kind="request"}`.
 */
export function parseRequest<Req>(def: CommandDefinition<Req, unknown>, body: unknown): Req {
  const r = def.request.safeParse(body);
  if (r.success) return r.data;
  busInvalidPayloads.inc({ subject: def.subject, kind: "request" });
  const issues = issuesOf(r.error);
  throw new AppError(ErrorCode.BAD_REQUEST, `malformed request on ${def.subject}: ${describe(issues)}`, { subject: def.subject, issues });
}

/**
 * Parses a reply body against its command's reply schema.
 * @throws AppError `BAD_REPLY` with details `{ subject, issues }`, counted with `kind="reply"`.
 */
export function parseReply<Res>(def: CommandDefinition<unknown, Res>, body: unknown): Res {
  const r = def.reply.safeParse(body);
  if (r.success) return r.data;
  busInvalidPayloads.inc({ subject: def.subject, kind: "reply" });
  const issues = issuesOf(r.error);
  throw new AppError(ErrorCode.BAD_REPLY, `malformed reply on ${def.subject}: ${describe(issues)}`, { subject: def.subject, issues });
}

/**
 * Parses an event payload against its definition's schema. A refused event is counted with
 * `kind="event"`; the caller logs it and acknowledges it (redelivering a malformed event
 * would fail the same way forever).
 */
export function parseEvent<E extends EventBase>(
  def: EventDefinition<E>,
  payload: unknown,
): { ok: true; event: E } | { ok: false; issues: PayloadIssue[] } {
  const r = def.schema.safeParse(payload);
  if (r.success) return { ok: true, event: r.data };
  busInvalidPayloads.inc({ subject: def.subject, kind: "event" });
  return { ok: false, issues: issuesOf(r.error) };
}
