import pino, { type Logger as PinoLogger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";
import { currentRequestId } from "./request-context.ts";
import { activeTraceId } from "./tracing.ts";

/** Structured logger (pino). Child loggers carry `module` and `request_id` bindings. */
export type Logger = PinoLogger;

/**
 * The one logger shape components below the kernel take (transports, registries, stores): one
 * structured line per call, `(fields, message)`, at the levels they log. Every {@link Logger} is
 * one, so the kernel hands its pino children straight in; tests pass plain objects that record
 * lines. A component that logs at fewer levels asks for `Pick<LogSink, "warn">` and the like.
 */
export interface LogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A level of {@link LogSink}. */
export type LogSinkLevel = keyof LogSink;

/**
 * Writes one line to `logger` (if any), swallowing whatever the logger throws: a failing logger
 * must not take a delivery or connection path down with it.
 */
export function safeLog<L extends LogSinkLevel>(logger: Pick<LogSink, L> | undefined, level: L, obj: object, msg: string): void {
  if (logger === undefined) return;
  try {
    logger[level](obj, msg);
  } catch {
    // Deliberately dropped: see above.
  }
}

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** Pretty, colourised output; default: when stdout is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go instead of stdout (tests capture lines with it); implies not pretty. */
  destination?: pino.DestinationStream;
}

/**
 * Creates the root logger. JSON lines on stdout (one object per line, `time` in epoch ms);
 * pretty-printed when `pretty` (default: stdout is a TTY).
 *
 * pino-pretty is used as a synchronous stream, not as a worker-thread transport, because
 * transports resolve files from node_modules at run time, which a compiled Bun binary lacks.
 */
export function createLogger(opts: LoggerOptions): Logger {
  if (opts.destination)
    return pino({ level: opts.level as LevelWithSilent, base: { pid: process.pid }, mixin: correlationMixin }, opts.destination);
  const usePretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: opts.level as LevelWithSilent, base: { pid: process.pid }, mixin: correlationMixin };
  if (usePretty) {
    return pino(base, pretty({ colorize: true, sync: true, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l" }));
  }
  return pino(base);
}

/**
 * Adds `trace_id` (active span) and `request_id` (current request) to every line. A child
 * logger already bound to `request_id` keeps its binding (no duplicate key in the line).
 */
function correlationMixin(_merge: object, _level: number, logger: PinoLogger): Record<string, string> {
  const out: Record<string, string> = {};
  const traceId = activeTraceId();
  if (traceId) out["trace_id"] = traceId;
  const requestId = currentRequestId();
  if (requestId && !chindings(logger).includes('"request_id"')) out["request_id"] = requestId;
  return out;
}

/** The serialized bindings of a pino logger (its child fields), as pino keeps them. */
function chindings(logger: PinoLogger): string {
  const s = (logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym];
  return typeof s === "string" ? s : "";
}
