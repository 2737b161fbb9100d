import type * as OpenTelemetry from '@opentelemetry/api';
import { describeError } from './errors.ts';
import type { Headers } from './meta.ts';

/**
 * OpenTelemetry tracing, through `@opentelemetry/api` (an optional peer dependency) and whatever SDK
 * the application registers. Without the API installed, or without an SDK, every function here does
 * nothing. The API is looked up once, when this module loads.
 */
let api: typeof OpenTelemetry | undefined;
const loading: Promise<void> = import('@opentelemetry/api').then(
  (loaded) => {
    api = loaded;
  },
  () => undefined,
);

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
 * propagator the application registered). Producers and RPC clients send these.
 */
export function withTraceContext(headers: Headers): Headers {
  if (!api) return headers;
  const carrier: Record<string, string> = { ...headers };
  api.propagation.inject(api.context.active(), carrier);
  return carrier;
}

/** What a consumer span describes: one attempt at one message. */
export interface ConsumerSpanInfo {
  /** `messaging.system`: rabbitmq, kafka, nats, in_memory... */
  readonly system: string;
  /** `messaging.destination.name`: the queue, topic or subject. */
  readonly destination: string;
  /** The message's headers, where the producer's context travels. */
  readonly headers: Headers;
  /** Which attempt this is, from 1. */
  readonly attempt: number;
}

/**
 * Runs `attempt` in a CONSUMER span named `process <destination>`, child of (and linked to) the
 * context the producer sent in the headers, active while it runs (so an RPC call or a publish made
 * by the target continues the trace). `failure` reads the attempt's error, if any, from its result:
 * the span then carries `error.type` and an error status.
 */
export async function inConsumerSpan<T>(info: ConsumerSpanInfo, attempt: () => Promise<T>, failure: (result: T) => unknown): Promise<T> {
  const otel = api;
  if (!otel) return attempt();
  const parent = otel.propagation.extract(otel.ROOT_CONTEXT, info.headers, headerGetter);
  const producer = otel.trace.getSpanContext(parent);
  const span = otel.trace.getTracer(tracerName).startSpan(
    `process ${info.destination}`,
    {
      kind: otel.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': info.system,
        'messaging.destination.name': info.destination,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'micro_framework.attempt': info.attempt,
      },
      links: producer && otel.trace.isSpanContextValid(producer) ? [{ context: producer }] : [],
    },
    parent,
  );
  try {
    const result = await otel.context.with(otel.trace.setSpan(parent, span), attempt);
    const error = failure(result);
    if (error !== undefined) {
      const { name, message } = describeError(error);
      span.setAttribute('error.type', name);
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message });
    }
    return result;
  } catch (error) {
    span.setAttribute('error.type', describeError(error).name);
    span.setStatus({ code: otel.SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}
