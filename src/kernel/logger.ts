import pino, { type Logger as PinoLogger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";
import { currentRequestId } from "./request-context.ts";
import { activeTraceId } from "./tracing.ts";

/** Structured logger (pino). Child loggers carry `module` and `request_id` bindings. */
export type Logger = PinoLogger;

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
