/**
 * OpenTelemetry tracing of this process.
 *
 * Spans: `HTTP <method> <route>` (gateway edge) → `graphql.<type> <operation>` (envelop plugin)
 * → `subgraph <name>` (bus executor) → `bus.request <subject>` → `bus.handle <pattern>` (the
 * responder, possibly in another process) → `db <statement>` (SQL). The W3C `traceparent`
 * (and `tracestate`) travel in bus message headers, so a trace spans processes in split mode.
 *
 * {@link initTracing} always installs the AsyncLocalStorage context manager (it works under
 * Bun: AsyncLocalStorage follows promises, timers and microtasks), the W3C propagator and a
 * tracer provider, so trace ids exist and propagate even when nothing is exported (every log
 * line carries `trace_id`). Without an exporter the sampler is `AlwaysOff`: spans are
 * non-recording, which costs an id and a context object per span, no attributes, no export.
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are batched to `<endpoint>/v1/traces` over
 * OTLP/HTTP with JSON bodies (`@opentelemetry/exporter-trace-otlp-http`).
 */
import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  INVALID_SPAN_CONTEXT,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { Headers } from "./bus/types.ts";

/** Instrumentation scope name of every span this code base creates. */
export const TRACER_NAME = "switchyard";

export interface TracingOptions {
  /** `service.name` resource attribute, e.g. `switchyard-gateway`. */
  serviceName: string;
  /** OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`), e.g. `http://collector:4318`; spans go to `<endpoint>/v1/traces`. */
  otlpEndpoint?: string | undefined;
  /** An exporter to use instead (tests: `InMemorySpanExporter`); exported synchronously, span by span. */
  exporter?: SpanExporter;
}

/** What {@link initTracing} returns. */
export interface TracingHandle {
  /** True when spans are recorded and exported. */
  readonly recording: boolean;
  /** Exports what is buffered and stops the provider (call at shutdown). Never throws. */
  shutdown(): Promise<void>;
}

let current: BasicTracerProvider | undefined;
let contextManagerInstalled = false;

/**
 * Installs tracing for this process (see the file comment). Calling it again replaces the
 * previous provider (tests install an in-memory exporter per file).
 */
export function initTracing(opts: TracingOptions): TracingHandle {
  const processors: SpanProcessor[] = [];
  if (opts.exporter) processors.push(new SimpleSpanProcessor(opts.exporter));
  if (opts.otlpEndpoint) {
    const url = `${opts.otlpEndpoint.replace(/\/+$/, "")}/v1/traces`;
    processors.push(new BatchSpanProcessor(lazyOtlpExporter(url), { scheduledDelayMillis: 1000 }));
  }
  const recording = processors.length > 0;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": opts.serviceName }),
    // Follow the caller's decision when there is one, so one trace is recorded everywhere or nowhere.
    sampler: new ParentBasedSampler({ root: recording ? new AlwaysOnSampler() : new AlwaysOffSampler() }),
    spanProcessors: processors,
  });
  if (!contextManagerInstalled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    contextManagerInstalled = true;
  }
  if (current) trace.disable();
  trace.setGlobalTracerProvider(provider);
  current = provider;
  return {
    recording,
    async shutdown() {
      await provider.shutdown().catch(() => {});
    },
  };
}

/**
 * `new OTLPTraceExporter({ url })`, with `@opentelemetry/exporter-trace-otlp-http` (and its HTTP,
 * zlib and protobuf dependencies) imported when the first batch is exported instead of at every
 * start: a process without `OTEL_EXPORTER_OTLP_ENDPOINT` never loads it. The batch processor
 * waits for each export's callback, so batches still go out one after the other, in order.
 */
function lazyOtlpExporter(url: string): SpanExporter {
  let loaded: Promise<SpanExporter> | undefined;
  const exporter = (): Promise<SpanExporter> =>
    (loaded ??= import("@opentelemetry/exporter-trace-otlp-http").then(({ OTLPTraceExporter }) => new OTLPTraceExporter({ url })));
  return {
    export(spans, resultCallback: (result: ExportResult) => void) {
      exporter().then(
        (e) => e.export(spans, resultCallback),
        (error: unknown) =>
          resultCallback({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) }),
      );
    },
    // Nothing was ever exported when it is not loaded: nothing to flush or shut down.
    shutdown: () => (loaded ? loaded.then((e) => e.shutdown()) : Promise.resolve()),
    forceFlush: () => (loaded ? loaded.then((e) => e.forceFlush?.()) : Promise.resolve()),
  };
}

/** The tracer of this code base (resolved per call, so a replaced provider takes effect). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * The active span when its trace is not sampled, else undefined (no active span, or a sampled
 * one). The sampler is parent-based ({@link initTracing}), so a child of such a span would never
 * record: callers on the per-request path run their work under it instead of starting a child
 * span (the same rule as the SQL spans of storage/instrument.ts). What that saves per call: a
 * span object, its random span id, its attributes and a context; what stays the same: the trace
 * id of every log line and of the propagated `traceparent` (whose parent span id is then the
 * outer span's — span ids of an unsampled trace are recorded nowhere).
 */
export function unsampledActiveSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0 ? span : undefined;
}

/**
 * `tracer().startActiveSpan(name, options, fn)` when the span can be recorded; when the active
 * span's trace is not sampled ({@link unsampledActiveSpan}), `fn` runs at once with a span that
 * records nothing and is not the active span's (ending it ends nothing). `options` is a function,
 * so its attributes are not even built then.
 */
export function startActiveChildSpan<T>(name: string, options: () => SpanOptions, fn: (span: Span) => T): T {
  if (unsampledActiveSpan()) return fn(UNRECORDED);
  return tracer().startActiveSpan(name, options(), fn);
}

/**
 * {@link startActiveChildSpan} for a span whose parent is `parent` (a context extracted from
 * message headers) rather than the active context: when `parent` holds a span of an unsampled
 * trace, `fn` runs in `parent` (so log lines carry its trace id and further requests propagate
 * it) with a span that records nothing; otherwise the span is started as a child of `parent`
 * (a new root, with a new trace id, when `parent` holds no span).
 */
export function startActiveSpanIn<T>(parent: Context, name: string, options: () => SpanOptions, fn: (span: Span) => T): T {
  const span = trace.getSpan(parent);
  if (span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0)
    return context.with(parent, fn, undefined, UNRECORDED);
  return tracer().startActiveSpan(name, options(), parent, fn);
}

/** A span that records nothing (the invalid span context): what {@link startActiveChildSpan} hands out instead of a child. */
const UNRECORDED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Trace id of the active span, or undefined when there is none. */
export function activeTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && ctx.traceId !== "00000000000000000000000000000000" ? ctx.traceId : undefined;
}

/** Writes the active trace context (`traceparent`, `tracestate`) into bus headers (mutates `headers`). */
export function injectTraceHeaders(headers: Headers, ctx: Context = context.active()): Headers {
  propagation.inject(ctx, headers);
  return headers;
}

/** The context carried by incoming bus or HTTP headers (the active context when there is none). */
export function extractTraceContext(headers: Headers | Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), headers);
}

/**
 * Runs `fn` inside a new active span and ends it when `fn` settles; a throw records the
 * exception, sets status ERROR and is re-thrown.
 */
export async function withSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Record<string, string | number | boolean>; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}) },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        markError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Records `err` on `span` and sets status ERROR. */
export function markError(span: Span, err: unknown, message?: string): void {
  if (!span.isRecording()) return;
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? (err instanceof Error ? err.message : String(err)) });
}

export { SpanKind, SpanStatusCode, context, trace };
