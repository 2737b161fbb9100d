import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Route, Runner, WorkerCrashed, isRetryable, tracingReady, workerTarget } from '../src/index.ts';
import { DirectEntrypoint } from './helpers.ts';

// Issue #14: the trace context crosses into the worker explicitly (as propagation headers); a worker
// whose module registers OpenTelemetry runs the call in the caller's trace.
const fixtures = new URL('./fixtures/trace-targets.ts', import.meta.url);
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] });
const runners: Runner[] = [];

beforeAll(async () => {
  await tracingReady();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 2_000 })));
});
afterAll(async () => {
  trace.disable();
  propagation.disable();
  context.disable();
  await provider.shutdown();
});

describe.each(['thread', 'process'] as const)('workerMode %s', (mode) => {
  async function serve(exportName: string): Promise<DirectEntrypoint> {
    const entrypoint = new DirectEntrypoint();
    const runner = new Runner({ config: { serviceName: `trace-${mode}`, maxWorkers: 1, workerMode: mode }, contexts: [{ routes: [new Route({ target: workerTarget(fixtures, exportName), entrypoint })] }] });
    runners.push(runner);
    await runner.start();
    return entrypoint;
  }

  it('runs the call in the trace of the caller', async () => {
    const entrypoint = await serve('currentTrace');
    const span = trace.getTracer('test').startSpan('handle order');
    const worker = await context.with(trace.setSpan(context.active(), span), () => entrypoint.send([]));
    span.end();
    expect(worker?.exception).toBeUndefined();
    expect(worker?.result).toBe(span.spanContext().traceId);
    // Without a trace around the call, none is made up in the worker.
    expect((await entrypoint.send([]))?.result).toBeNull();
  });

  it('fails the call with a retryable WorkerCrashed when the target throws outside it (uncaught)', async () => {
    const entrypoint = await serve('throwLater');
    const worker = await entrypoint.send([]);
    expect(worker?.exception).toBeInstanceOf(WorkerCrashed);
    expect(isRetryable(worker?.exception)).toBe(true);
  });
});
