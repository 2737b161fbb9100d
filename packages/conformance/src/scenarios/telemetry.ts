import { Backoff, CallbackRoute, JsonLogger, Route, RpcProxy, inject, withTraceContext, type BackoffOptions, type RpcClient, type ServiceObserver } from '@micro-framework/core';
import { context, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import type { Harness } from '../harness.ts';
import { waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

/** One event an observer saw: its name and what it carried. */
export interface RecordedEvent {
  readonly name: keyof ServiceObserver;
  readonly event: Record<string, unknown>;
}

const eventNames: ReadonlyArray<keyof ServiceObserver> = [
  'started', 'received', 'taskStarted', 'taskFinished', 'retryScheduled', 'callbackCalled', 'deadLettered', 'givenBack', 'dropped',
  'rpcCall', 'connectionLost', 'connectionRestored', 'consumerCrashed', 'consumerReplaced', 'stopBegun', 'stopDrained', 'stopTimedOut', 'stopped',
];

/** An observer that records every event it is told of, in order. */
export function recordingObserver(): { observer: ServiceObserver; events: RecordedEvent[] } {
  const events: RecordedEvent[] = [];
  const observer = Object.fromEntries(eventNames.map((name) => [name, (event: Record<string, unknown>) => void events.push({ name, event })])) as ServiceObserver;
  return { observer, events };
}

/** A logger at debug keeping each JSON line it writes, parsed. */
export function recordingLogger(): { logger: JsonLogger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { logger: new JsonLogger({ level: 'debug', sink: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

function anyBackoff(h: Harness, options: BackoffOptions): Backoff {
  return h.adapter.capabilities.delayedRetry && h.adapter.createDelayedBackoff ? h.adapter.createDelayedBackoff(options) : new Backoff(options);
}

/** Scenario 38: what a service reports of a scripted run, to its observers and in its logs. */
export function telemetryScenarios(adapter: ConformanceAdapter): void {
  describe('telemetry', () => {
    scenario(adapter, '38 telemetry: attempts, retries, dead letters and the stop are reported, logged and counted in /metrics once each', ['deadLetter'], async (h) => {
      const spec = h.spec('telemetry');
      const failures = new Map<string, number>();
      const handler = (payload: unknown): void => {
        const { kind } = payload as { kind: string };
        const failed = failures.get(kind) ?? 0;
        if (kind === 'always' || (kind === 'once' && failed === 0)) {
          failures.set(kind, failed + 1);
          throw new TypeError(`${kind} failed`);
        }
      };
      const { observer, events } = recordingObserver();
      const { logger, lines } = recordingLogger();
      const route = h.listenerRoute({ spec, handler, backoff: anyBackoff(h, { maxRetries: 1, interval: 50 }) });
      const metrics = { enabled: true, host: '127.0.0.1', port: 0 };
      const runner = await h.startService(spec.serviceName, [route], 10, { logger, metrics }, [observer]);
      for (const kind of ['ok', 'once', 'always']) await h.publishJson(spec.channel, { kind });
      await h.adapter.publish(spec.channel, { body: new TextEncoder().encode('{not json') });
      const of = (name: keyof ServiceObserver): Array<Record<string, unknown>> =>
        events.filter((recorded) => recorded.name === name && recorded.event['route'] === route.metricLabel).map((recorded) => recorded.event);
      await waitFor(() => of('deadLettered').length === 2 && h.calls.length === 5, 'two dead letters and five attempts');
      const { host, port } = runner.metricsAddress!;
      const scraped = await (await fetch(`http://${host}:${port}/metrics`)).text();
      const labels = `service="${spec.serviceName}",context="default",route="${route.metricLabel}"`;
      const value = (name: string, extra = ''): number => Number(new RegExp(`^${name}\\{${labels}${extra}\\} (\\S+)$`, 'm').exec(scraped)?.[1]);
      expect(value('micro_framework_tasks_total')).toBe(5);
      expect(value('micro_framework_failed_tasks_total')).toBe(3);
      expect(value('micro_framework_retries_scheduled_total')).toBe(2);
      expect(value('micro_framework_dead_letters_total', ',reason="decode"')).toBe(1);
      expect(value('micro_framework_dead_letters_total', ',reason="exhausted"')).toBe(1);
      expect(value('micro_framework_tasks_running')).toBe(0);
      expect((await fetch(`http://${host}:${port}/readyz`)).status).toBe(200);
      await runner.stop({ timeoutMs: 5_000 });

      const finished = of('taskFinished');
      expect(finished.filter((event) => !event['error'])).toHaveLength(2);
      expect(finished.filter((event) => event['error']).map((event) => event['error'])).toEqual(
        expect.arrayContaining([{ name: 'TypeError', message: 'once failed' }, { name: 'TypeError', message: 'always failed' }]),
      );
      expect(finished.filter((event) => event['error'])).toHaveLength(3);
      expect(of('taskStarted')).toHaveLength(5);
      expect(finished.every((event) => typeof event['durationSeconds'] === 'number' && event['context'] === 'default')).toBe(true);
      expect(of('retryScheduled').map((event) => event['attempt'])).toEqual([1, 1]);
      expect(of('deadLettered').map((event) => [event['reason'], event['attempt']]).sort()).toEqual([['decode', 1], ['exhausted', 2]]);
      expect(of('received').length).toBeGreaterThanOrEqual(4);
      expect(events.filter((recorded) => recorded.name === 'started')).toHaveLength(1);
      expect(events.filter((recorded) => recorded.name === 'stopped')).toHaveLength(1);

      const logged = (pattern: RegExp): Array<Record<string, unknown>> => lines.filter((line) => pattern.test(String(line['msg'])));
      expect(logged(/ started with 1 route/)).toHaveLength(1);
      expect(logged(/ started with /)[0]).toMatchObject({ service: spec.serviceName, level: 'info' });
      expect(logged(/dead-lettered/).map((line) => [line['level'], line['reason']]).sort()).toEqual([['warn', 'decode'], ['warn', 'exhausted']]);
      expect(logged(/^retry of .* scheduled/)).toHaveLength(2);
      for (const phase of [/ stopping /, / drained in /, / stopped$/]) expect(logged(phase), String(phase)).toHaveLength(1);
    });

    scenario(adapter, '41 telemetry: a final failure handed to the callback and the RPC calls a target makes through RpcProxy are reported and counted', ['rpc'], async (h) => {
      const spec = h.spec('counted');
      const rpcService = h.unique('counted-rpc');
      const client: RpcClient = await h.adapter.createRpcClient!();
      h.onCleanup(() => client.close());
      function quote(sku: string): number {
        if (sku === 'none') throw Object.assign(new Error('unknown sku'), { name: 'UnknownSku' });
        return 3;
      }
      await h.startService(rpcService, [new Route({ target: quote, entrypoint: h.adapter.createRpcListener!({ name: 'quote' }) })]);
      const outcomes: string[] = [];
      const handled: unknown[] = [];
      const ask = inject({ stock: new RpcProxy(() => client) }, async function ask({ stock }, payload: { sku: string }) {
        outcomes.push(await stock.call(rpcService, 'quote', [payload.sku], { timeoutMs: 10_000 }).then(String, (error: Error) => error.name));
        if (payload.sku === 'none') throw new RangeError('no quote');
      });
      const callback = (...args: unknown[]): void => void handled.push(args);
      const route = new CallbackRoute({ target: ask, entrypoint: h.adapter.createListener(spec), backoff: new Backoff({ maxRetries: 0 }), callbackTarget: callback });
      const { observer, events } = recordingObserver();
      const { logger, lines } = recordingLogger();
      const runner = await h.startService(spec.serviceName, [route], 10, { logger, metrics: { enabled: true, host: '127.0.0.1', port: 0 } }, [observer]);
      await h.publishJson(spec.channel, { sku: 'pen' });
      await h.publishJson(spec.channel, { sku: 'none' });
      await waitFor(() => handled.length === 1 && outcomes.length === 2, 'both messages, one through the callback');
      expect(outcomes.sort()).toEqual(['3', 'RemoteError']);
      const named = (name: keyof ServiceObserver): Array<Record<string, unknown>> => events.filter((recorded) => recorded.name === name).map((recorded) => recorded.event);
      expect(named('callbackCalled')).toEqual([expect.objectContaining({ route: route.metricLabel, attempt: 1, error: { name: 'RangeError', message: 'no quote' } })]);
      expect(named('rpcCall').map((event) => [event['remoteService'], event['target'], event['outcome']]).sort()).toEqual([
        [rpcService, 'quote', 'ok'],
        [rpcService, 'quote', 'remote-error'],
      ]);
      expect(lines.filter((line) => line['level'] === 'warn' && /final failure after attempt 1 \(RangeError: no quote\)/.test(String(line['msg'])))).toHaveLength(1);
      const scraped = await runner.metrics!.registry.metrics();
      const service = `service="${spec.serviceName}"`;
      expect(scraped).toContain(`micro_framework_callbacks_total{${service},context="default",route="${route.metricLabel}"} 1`);
      expect(scraped).toContain(`micro_framework_rpc_client_calls_total{${service},remote_service="${rpcService}",target="quote",outcome="ok"} 1`);
      expect(scraped).toContain(`micro_framework_rpc_client_calls_total{${service},remote_service="${rpcService}",target="quote",outcome="remote-error"} 1`);
    });

    scenario(adapter, '39 readiness: /readyz answers 503 with the reason while the broker is cut, 200 once the service consumes again; the connection is reported lost, then restored', ['networkFault'], async (h) => {
      const spec = h.spec('readiness');
      const { observer, events } = recordingObserver();
      const runner = await h.startService(spec.serviceName, [h.listenerRoute({ spec })], 10, { metrics: { enabled: true, host: '127.0.0.1', port: 0 } }, [observer]);
      const { host, port } = runner.metricsAddress!;
      const readiness = async (): Promise<{ status: number; text: string }> => {
        const response = await fetch(`http://${host}:${port}/readyz`);
        return { status: response.status, text: await response.text() };
      };
      expect((await readiness()).status).toBe(200);
      const cut = h.adapter.cutNetwork!(8_000);
      let notReady: { status: number; text: string } | undefined;
      await waitFor(async () => {
        const answer = await readiness();
        if (answer.status === 503) notReady = answer;
        return notReady !== undefined;
      }, '/readyz to answer 503 during the cut', 8_000);
      expect(notReady!.text).toContain('Route.handle: ');
      await cut;
      await waitFor(async () => (await readiness()).status === 200, '/readyz to answer 200 after the cut', 60_000);
      await h.publishJson(spec.channel, { after: 'cut' });
      await waitFor(() => h.calls.length === 1, 'a message handled after the cut', 60_000);
      const names = events.map((recorded) => recorded.name);
      expect(names.filter((name) => name === 'connectionLost').length, 'connection lost reported').toBeGreaterThanOrEqual(1);
      const lost = names.indexOf('connectionLost');
      expect(names.indexOf('connectionRestored', lost), 'connection restored reported after it was lost').toBeGreaterThan(lost);
    }, 120_000);

    scenario(adapter, '40 tracing: publish, the handler, its RPC call and the RPC target are one trace of consumer spans; the dead letter carries it on', ['rpc', 'deadLetter'], async (h) => {
      const exporter = new InMemorySpanExporter();
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      const contextManager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(contextManager);
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      trace.setGlobalTracerProvider(provider);
      h.onCleanup(async () => {
        trace.disable();
        propagation.disable();
        context.disable();
        await provider.shutdown();
      });
      const spec = h.spec('traced');
      const rpcService = h.unique('traced-rpc');
      const rpc: RpcClient = await h.adapter.createRpcClient!();
      h.onCleanup(() => rpc.close());
      let calls = 0;
      const handle = inject({}, async function handle(_deps, payload: { n: number }) {
        if (payload.n < 0) throw new Error('never works');
        calls += 1;
        if (calls === 1) throw new Error('first attempt fails');
        return rpc.call(rpcService, 'double', [payload.n], { timeoutMs: 10_000 });
      });
      function double(n: number): number {
        return n * 2;
      }
      await h.startService(rpcService, [new Route({ target: double, entrypoint: h.adapter.createRpcListener!({ name: 'double' }) })]);
      await h.startService(spec.serviceName, [new Route({ target: handle, entrypoint: h.adapter.createListener(spec), backoff: anyBackoff(h, { maxRetries: 1, interval: 50 }) })]);
      const producer = trace.getTracer('conformance').startSpan('checkout', { kind: SpanKind.PRODUCER });
      await context.with(trace.setSpan(context.active(), producer), async () => {
        await h.publishJson(spec.channel, { n: 21 }, { headers: withTraceContext({}) as Record<string, string> });
        await h.publishJson(spec.channel, { n: -1 }, { headers: withTraceContext({}) as Record<string, string> });
      });
      producer.end();
      const traceId = producer.spanContext().traceId;
      const processSpans = () => exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId && span.name.startsWith('process '));
      await waitFor(() => processSpans().length >= 5, 'the attempts of both messages and the RPC target in one trace');
      const spans = processSpans();
      expect(spans.every((span) => span.kind === SpanKind.CONSUMER && span.attributes['messaging.operation.type'] === 'process' && typeof span.attributes['messaging.system'] === 'string')).toBe(true);
      const failed = spans.find((span) => span.attributes['error.type'] === 'Error');
      expect(failed, 'the failed first attempt').toBeDefined();
      expect(failed!.attributes['micro_framework.attempt']).toBe(1);
      expect(failed!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      const retried = spans.find((span) => span.attributes['micro_framework.attempt'] === 2 && span.attributes['error.type'] === undefined);
      expect(retried, 'the retry, in the same trace').toBeDefined();
      expect(retried!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      const target = spans.find((span) => span.parentSpanContext?.spanId === retried!.spanContext().spanId);
      expect(target, "the RPC target's span, child of the retry that called it").toBeDefined();
      expect(target!.links.map((link) => link.context.spanId)).toEqual([retried!.spanContext().spanId]);
      // The dead letter carries the producer's context onward.
      const [dead] = await h.deadLetters(spec, 1);
      const traceparent = Object.entries(dead!.headers).find(([name]) => name.toLowerCase() === 'traceparent')?.[1];
      expect(traceparent).toContain(traceId);
    });
  });
}
