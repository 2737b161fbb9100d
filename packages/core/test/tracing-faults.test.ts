import { context, propagation, trace, type Context, type ContextManager, type Span, type TextMapPropagator, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inConsumerSpan, tracingReady, withTraceContext } from '../src/index.ts';

/** Which part of a (misbehaving) tracing SDK throws in the next test. */
type Fault = 'none' | 'extract' | 'inject' | 'startSpan' | 'end' | 'setStatus' | 'with' | 'with-drops-result';
let fault: Fault = 'none';

const faulty = (where: Fault): void => {
  if (fault === where) throw new Error(`tracing SDK fault in ${where}`);
};

const propagator: TextMapPropagator = {
  inject(_context, carrier: Record<string, string>) {
    carrier['traceparent'] = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    faulty('inject');
  },
  extract(active) {
    faulty('extract');
    return active;
  },
  fields: () => ['traceparent'],
};

function span(): Span {
  const self: Span = {
    spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }),
    setAttribute: () => self,
    setAttributes: () => self,
    addEvent: () => self,
    addLink: () => self,
    addLinks: () => self,
    setStatus: () => {
      faulty('setStatus');
      return self;
    },
    updateName: () => self,
    end: () => faulty('end'),
    isRecording: () => true,
    recordException: () => undefined,
  };
  return self;
}

const tracer = {
  startSpan: () => {
    faulty('startSpan');
    return span();
  },
} as unknown as Tracer;
const provider: TracerProvider = { getTracer: () => tracer };

const asyncHooks = new AsyncLocalStorageContextManager();
const manager: ContextManager = {
  active: () => asyncHooks.active(),
  with: <A extends unknown[], F extends (...args: A) => ReturnType<F>>(active: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> => {
    faulty('with');
    const result = asyncHooks.with(active, fn, thisArg, ...args);
    // A context manager that runs the function but returns something else than its result.
    return (fault === 'with-drops-result' ? undefined : result) as ReturnType<F>;
  },
  bind: (active, target) => asyncHooks.bind(active, target),
  enable: () => {
    asyncHooks.enable();
    return manager;
  },
  disable: () => {
    asyncHooks.disable();
    return manager;
  },
};

beforeAll(async () => {
  await tracingReady();
  context.setGlobalContextManager(manager.enable());
  propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
});

afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});

describe('a tracing SDK that throws', () => {
  it('never changes the headers a producer sends beyond the trace context', () => {
    fault = 'inject';
    expect(withTraceContext({ keep: 'me' })).toEqual({ keep: 'me' });
    fault = 'none';
    expect(withTraceContext({ keep: 'me' })['traceparent']).toBeDefined();
  });

  it('replaces a trace context the headers already carry in another spelling, instead of sending both', () => {
    const headers = withTraceContext({ TraceParent: '00-11111111111111111111111111111111-2222222222222222-01', keep: 'me' });
    expect(Object.keys(headers).sort()).toEqual(['keep', 'traceparent']);
  });

  for (const where of ['extract', 'startSpan', 'end', 'setStatus', 'with'] as const) {
    it(`runs the attempt exactly once and keeps its result when ${where} throws`, async () => {
      fault = where;
      let runs = 0;
      const failed = new TypeError('declined');
      const result = await inConsumerSpan({ system: 'kafka', destination: 'payments', headers: { traceparent: 'x' }, attempt: 1 }, async () => {
        runs += 1;
        return failed;
      }, (outcome) => outcome);
      expect(runs).toBe(1);
      expect(result).toBe(failed);
      fault = 'none';
    });
  }

  it('waits for the attempt itself when the context manager does not return its promise', async () => {
    fault = 'with-drops-result';
    let finished = false;
    const result = await inConsumerSpan({ system: 'nats', destination: 'orders', headers: {}, attempt: 1 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      finished = true;
      return 'done';
    }, () => undefined);
    expect({ finished, result }).toEqual({ finished: true, result: 'done' });
    fault = 'none';
  });

  it('passes a throwing attempt on as it is, whatever the SDK does', async () => {
    fault = 'end';
    await expect(inConsumerSpan({ system: 'nats', destination: 'orders', headers: {}, attempt: 1 }, async () => {
      throw new RangeError('boom');
    }, () => undefined)).rejects.toThrow('boom');
    fault = 'none';
  });
});
