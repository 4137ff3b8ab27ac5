import type { z } from "zod";
import { validateSubject } from "../bus/subject.ts";

/**
 * Typed bus contracts: a command (request/reply subject) or an event (durable pub/sub subject)
 * is declared once, with the zod schema of what travels on it. The definition is what
 * `ctx.serve`/`ctx.call`/`ctx.on`/`ctx.emit` take (their payload types are inferred from it),
 * what the kernel validates payloads against at the bus boundary (`./validate.ts`), and what
 * `defineModule` derives a module's declared subjects from (`./module.ts`).
 */

/**
 * A request/reply subject with the schemas of its request and reply.
 * @typeParam Req the request body (the schema's output).
 * @typeParam Res the reply body.
 * @typeParam S the subject (its literal type).
 */
export interface CommandDefinition<Req = unknown, Res = unknown, S extends string = string> {
  readonly kind: "command";
  /** The subject served (no wildcards), e.g. `catalog.stock.reserve`. */
  readonly subject: S;
  /** Checked by the responder's kernel before its handler runs (a mismatch is `BAD_REQUEST`). */
  readonly request: z.ZodType<Req>;
  /** Checked by the caller's kernel on the reply. */
  readonly reply: z.ZodType<Res>;
}

/** What every event carries: its id, the deduplication key of the outbox, JetStream and consumers. */
export interface EventBase {
  /** Event id (KSUID): JetStream `Nats-Msg-Id` and the consumers' deduplication key. */
  eventId: string;
}

/**
 * A durable event subject with the schema of its payload.
 * @typeParam E the event payload (the schema's output).
 * @typeParam S the subject (its literal type).
 */
export interface EventDefinition<E extends EventBase = EventBase, S extends string = string> {
  readonly kind: "event";
  /** The subject published (no wildcards), e.g. `order.status_changed`. */
  readonly subject: S;
  /** Checked by the consumer's kernel before its handler runs (a mismatch is counted, logged and acknowledged). */
  readonly schema: z.ZodType<E>;
}

/** Request body type of a command definition. */
export type RequestOf<C> = C extends CommandDefinition<infer Req, unknown, string> ? Req : never;
/** Reply body type of a command definition. */
export type ReplyOf<C> = C extends CommandDefinition<unknown, infer Res, string> ? Res : never;
/** Payload type of an event definition. */
export type EventOf<D> = D extends EventDefinition<infer E> ? E : never;

/**
 * Declares a command: `subject` with the zod schemas of its request and reply. Keep the schemas
 * to the shape of the JSON (types, required fields, integers) and leave business rules (ranges,
 * formats, uniqueness) to the handler, which answers them with `BAD_USER_INPUT` and details.
 * @throws InvalidSubjectError when `subject` is not a valid literal NATS subject.
 */
export function defineCommand<const S extends string, Req extends z.ZodType, Res extends z.ZodType>(
  subject: S,
  schemas: { request: Req; reply: Res },
): CommandDefinition<z.output<Req>, z.output<Res>, S> {
  validateSubject(subject);
  // A schema's static type is its output (zod's `z.output`); TypeScript cannot see that for a generic `S`.
  const request = schemas.request as unknown as z.ZodType<z.output<Req>>;
  const reply = schemas.reply as unknown as z.ZodType<z.output<Res>>;
  return Object.freeze({ kind: "command", subject, request, reply });
}

/**
 * Declares an event: `subject` with the zod schema of its payload, which must carry a string
 * `eventId` (see {@link EventBase}).
 * @throws InvalidSubjectError when `subject` is not a valid literal NATS subject.
 */
export function defineEvent<const S extends string, P extends z.ZodType<EventBase>>(
  subject: S,
  schema: P,
): EventDefinition<z.output<P>, S> {
  validateSubject(subject);
  return Object.freeze({ kind: "event", subject, schema: schema as unknown as z.ZodType<z.output<P>> });
}

/** A module's public contract: the commands it serves and the events it publishes, by name. */
export interface Contract<
  C extends Record<string, CommandDefinition> = Record<string, CommandDefinition>,
  E extends Record<string, EventDefinition> = Record<string, EventDefinition>,
> {
  readonly commands: C;
  readonly events: E;
}

/** The subjects of a map of definitions, by the same names (`{ reserveStock: "catalog.stock.reserve" }`). */
export type SubjectsOf<T extends Record<string, { subject: string }>> = { readonly [K in keyof T]: T[K]["subject"] };

/**
 * Declares a module's contract (its commands and events). What the module serves and publishes
 * is derived from it (`defineModule`), so adding a command or an event is one entry here.
 * @throws Error when two definitions share a subject.
 */
export function defineContract<C extends Record<string, CommandDefinition>, E extends Record<string, EventDefinition>>(contract: {
  commands: C;
  events: E;
}): Contract<C, E> {
  const seen = new Set<string>();
  for (const d of [...Object.values(contract.commands), ...Object.values(contract.events)]) {
    if (seen.has(d.subject)) throw new Error(`contract declares subject ${d.subject} twice`);
    seen.add(d.subject);
  }
  return Object.freeze({ commands: Object.freeze({ ...contract.commands }), events: Object.freeze({ ...contract.events }) });
}

/**
 * The subjects of `defs` by the same names: for code that needs the subject string (stores
 * writing outbox rows, live subscriptions, tests).
 */
export function subjectsOf<T extends Record<string, { subject: string }>>(defs: T): SubjectsOf<T> {
  const out: Record<string, string> = {};
  for (const [name, d] of Object.entries(defs)) out[name] = d.subject;
  return Object.freeze(out) as SubjectsOf<T>;
}

/**
 * An event with its subject, as a store writes it to its outbox
 * (`outbox.add(entry.subject, entry.event, headers)`); built by {@link outboxEntry}.
 */
export interface OutboxEntry<E extends EventBase = EventBase> {
  readonly subject: string;
  readonly event: E;
}

/**
 * Pairs `event` with its definition's subject for the transactional outbox. Typed by the
 * definition, so a store cannot write a payload of another event under this subject. The payload
 * is not parsed here: consumers validate it (one parse per message).
 */
export function outboxEntry<E extends EventBase>(def: EventDefinition<E>, event: E): OutboxEntry<E> {
  return { subject: def.subject, event };
}
