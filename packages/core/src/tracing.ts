import type * as OpenTelemetry from '@opentelemetry/api';
import { describeError } from './errors.ts';
import type { Headers } from './meta.ts';

/**
 * OpenTelemetry tracing, through `@opentelemetry/api` (an optional peer dependency) and whatever SDK
 * the application registers. Without the API installed, or without an SDK, every function here does
 * nothing. The API is looked up once, when this module loads.
 */
let api: typeof OpenTelemetry | undefined;
/** What a ProxyTracerProvider without a delegate hands out: the API's own no-op provider. */
let noopTracerProvider: unknown;
/** A context no context manager would report as active unless it honours `with`. */
let probeContext: OpenTelemetry.Context | undefined;
const loading: Promise<void> = import('@opentelemetry/api').then(
  (loaded) => {
    try {
      // ProxyTracerProvider (deprecated, still exported) is only built to read the no-op delegate.
      noopTracerProvider = new loaded.ProxyTracerProvider().getDelegate();
      probeContext = loaded.ROOT_CONTEXT.setValue(loaded.createContextKey('@micro-framework/core probe'), true);
    } catch {
      noopTracerProvider = undefined;
      probeContext = undefined;
    }
    api = loaded;
  },
  () => undefined,
);

/** True when the active context manager made `probeContext` active (it honours `with`). */
function probeActive(): boolean {
  return api!.context.active() === probeContext;
}

/**
 * False when a consumer span could have no effect at all: no tracer provider registered (the global
 * one is the API's proxy without a delegate, so spans are non-recording) and no context manager
 * (`with` does not change the active context, so nothing inside the attempt could see the span or
 * the producer's context). Then `inConsumerSpan` would only run the attempt; callers may skip it
 * and spare the per-message span, context and closures. True whenever in doubt.
 */
export function consumerSpansWanted(): boolean {
  const otel = api;
  if (!otel) return false;
  if (noopTracerProvider === undefined || probeContext === undefined) return true;
  try {
    const provider = otel.trace.getTracerProvider() as { getDelegate?: () => unknown };
    if (typeof provider.getDelegate !== 'function' || provider.getDelegate() !== noopTracerProvider) return true;
    // With no tracer, `with` is asked once per message here instead of around the attempt.
    return otel.context.with(probeContext, probeActive) !== false;
  } catch {
    return true;
  }
}

/** Resolves once `@opentelemetry/api` was looked up (found or not). */
export function tracingReady(): Promise<void> {
  return loading;
}

/** The tracer name of every span this framework starts. */
export const tracerName = '@micro-framework/core';

/** Header lookup that ignores case: brokers and clients spell `traceparent` differently. */
const headerGetter: OpenTelemetry.TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const wanted = key.toLowerCase();
    for (const [name, value] of Object.entries(carrier)) if (name.toLowerCase() === wanted) return value;
    return undefined;
  },
};

/**
 * The headers with the active trace context added (W3C `traceparent` and `tracestate`, or whatever
 * propagator the application registered), replacing those fields in any spelling. Producers and RPC
 * clients send these. A propagator that throws leaves the headers as they were.
 */
export function withTraceContext(headers: Headers): Headers {
  if (!api) return headers;
  const injected: Record<string, string> = {};
  try {
    api.propagation.inject(api.context.active(), injected);
  } catch {
    return headers;
  }
  const fields = Object.keys(injected);
  if (fields.length === 0) return headers;
  const replaced = new Set(fields.map((name) => name.toLowerCase()));
  const carrier: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!replaced.has(name.toLowerCase())) carrier[name] = value;
  return Object.assign(carrier, injected);
}

/** What a consumer span describes: one attempt at one message. */
export interface ConsumerSpanInfo {
  /** `messaging.system`: rabbitmq, kafka, nats, in_memory... */
  readonly system: string;
  /** `messaging.destination.name`: the queue, topic or subject. */
  readonly destination: string;
  /** `messaging.destination.template`: the subscribed pattern, naming the span instead of `destination`. */
  readonly template?: string | undefined;
  /** The message's headers, where the producer's context travels. */
  readonly headers: Headers;
  /** Which attempt this is, from 1. */
  readonly attempt: number;
}

/** Runs an OpenTelemetry call whose failure must not touch the message's handling. */
function quietly(call: () => void): void {
  try {
    call();
  } catch {
    // Tracing is best effort: a faulty SDK never changes what happens to a message.
  }
}

/**
 * Runs `attempt` in a CONSUMER span named `process <destination>`, child of (and linked to) the
 * context the producer sent in the headers, active while it runs (so an RPC call or a publish made
 * by the target continues the trace). `failure` reads the attempt's error, if any, from its result:
 * the span then carries `error.type` and an error status. The attempt runs exactly once and its
 * result (or throw) is passed on as it is, whatever the tracing SDK throws.
 */
export async function inConsumerSpan<T>(info: ConsumerSpanInfo, attempt: () => Promise<T>, failure: (result: T) => unknown): Promise<T> {
  const otel = api;
  if (!otel) return attempt();
  let span: OpenTelemetry.Span;
  let active: OpenTelemetry.Context;
  try {
    const parent = otel.propagation.extract(otel.ROOT_CONTEXT, info.headers, headerGetter);
    const producer = otel.trace.getSpanContext(parent);
    span = otel.trace.getTracer(tracerName).startSpan(
      `process ${info.template ?? info.destination}`,
      {
        kind: otel.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': info.system,
          'messaging.destination.name': info.destination,
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'micro_framework.attempt': info.attempt,
          ...(info.template === undefined ? {} : { 'messaging.destination.template': info.template }),
        },
        links: producer && otel.trace.isSpanContextValid(producer) ? [{ context: producer }] : [],
      },
      parent,
    );
    active = otel.trace.setSpan(parent, span);
  } catch {
    return attempt();
  }
  // The attempt runs once, whatever the context manager does with it: its own promise is awaited,
  // never what `with` returns; a `with` that threw or never called it runs it without the span.
  let running: Promise<T> | undefined;
  const run = (): Promise<T> => (running ??= attempt());
  let result: T;
  try {
    try {
      const returned: unknown = otel.context.with(active, run);
      if (returned instanceof Promise) returned.catch(() => undefined);
    } catch {
      // Handled below: the attempt's own promise is what counts.
    }
    result = await run();
  } catch (error) {
    quietly(() => {
      span.setAttribute('error.type', describeError(error).name);
      span.setStatus({ code: otel.SpanStatusCode.ERROR });
    });
    quietly(() => span.end());
    throw error;
  }
  quietly(() => {
    const error = failure(result);
    if (error !== undefined) {
      const { name, message } = describeError(error);
      span.setAttribute('error.type', name);
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message });
    }
  });
  quietly(() => span.end());
  return result;
}
