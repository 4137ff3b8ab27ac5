import pino, { type Logger as PinoLogger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";

/** Structured logger (pino). Child loggers carry `module` and `request_id` bindings. */
export type Logger = PinoLogger;

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** Pretty, colourised output; default: when stdout is a TTY. */
  pretty?: boolean;
}

/**
 * Creates the root logger. JSON lines on stdout (one object per line, `time` in epoch ms);
 * pretty-printed when `pretty` (default: stdout is a TTY).
 *
 * pino-pretty is used as a synchronous stream, not as a worker-thread transport, because
 * transports resolve files from node_modules at run time, which a compiled Bun binary lacks.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const usePretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: opts.level as LevelWithSilent, base: { pid: process.pid } };
  if (usePretty) {
    return pino(base, pretty({ colorize: true, sync: true, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l" }));
  }
  return pino(base);
}
