import { context, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inConsumerSpan, tracingReady, withTraceContext } from '../src/index.ts';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });

beforeAll(async () => {
  await tracingReady();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  trace.disable();
  propagation.disable();
  context.disable();
  await provider.shutdown();
});

describe('trace context in headers', () => {
  it('is injected from the active span, and read back whatever the case of the header names', async () => {
    const producer = trace.getTracer('test').startSpan('send', { kind: SpanKind.PRODUCER });
    const headers = context.with(trace.setSpan(context.active(), producer), () => withTraceContext({ keep: 'me' }));
    producer.end();
    expect(headers['keep']).toBe('me');
    expect(headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const shouted = { TraceParent: headers['traceparent']! };
    let inner: string | undefined;
    await inConsumerSpan({ system: 'rabbitmq', destination: 'orders', headers: shouted, attempt: 2 }, async () => {
      inner = trace.getActiveSpan()?.spanContext().traceId;
      return 'ok';
    }, () => undefined);
    const [span] = exporter.getFinishedSpans().filter((finished) => finished.name === 'process orders');
    expect(span!.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(inner).toBe(producer.spanContext().traceId);
    expect(span!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(span!.attributes).toMatchObject({ 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'orders', 'micro_framework.attempt': 2 });
  });

  it('marks a failed attempt with error.type, and starts a new trace without a producer context', async () => {
    exporter.reset();
    await inConsumerSpan({ system: 'kafka', destination: 'payments', headers: {}, attempt: 1 }, async () => new TypeError('declined'), (result) => result);
    await expect(inConsumerSpan({ system: 'kafka', destination: 'payments', headers: { traceparent: 'garbage' }, attempt: 1 }, async () => {
      throw new RangeError('boom');
    }, () => undefined)).rejects.toThrow('boom');
    const [failed, thrown] = exporter.getFinishedSpans();
    expect(failed!.attributes['error.type']).toBe('TypeError');
    expect(failed!.parentSpanContext).toBeUndefined();
    expect(thrown!.attributes['error.type']).toBe('RangeError');
    expect(thrown!.status.code).toBe(2);
  });

  it('names the span after the subscribed pattern, not a received subject that may carry an id', async () => {
    exporter.reset();
    await inConsumerSpan({ system: 'nats', destination: 'orders.4711.paid', template: 'orders.*.paid', headers: {}, attempt: 1 }, async () => 'ok', () => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('process orders.*.paid');
    expect(span!.attributes).toMatchObject({ 'messaging.destination.name': 'orders.4711.paid', 'messaging.destination.template': 'orders.*.paid' });
  });
});
