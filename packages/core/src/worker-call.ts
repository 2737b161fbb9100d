import { ConfigurationError, EncodeError } from './errors.ts';
import { rebuildError, serializeError, type SerializedError } from './serialized-error.ts';

/**
 * One call sent to a worker thread or child process: the target by module and export, its arguments
 * and injected values (structured-cloned), and the caller's trace context as propagation headers.
 */
export interface WorkerCall {
  readonly module: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
  /** Positions of `args` holding a SerializedError, rebuilt as an Error before the call. */
  readonly errorArgs?: readonly number[];
  /** Present when the target declares dependencies: passed as the first argument. */
  readonly injected?: Record<string, unknown>;
  readonly traceHeaders?: Record<string, string>;
}

/** What comes back: the result, or the error written out (see SerializedError). A reply never throws across. */
export type WorkerReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: SerializedError };

interface OtelApi {
  readonly context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
  readonly propagation: { extract(context: unknown, carrier: Record<string, string>): unknown };
}

let otel: Promise<OtelApi | undefined> | undefined;

/** Modules this worker imported, by URL: a call resolves its export without a dynamic import each time. */
const modules = new Map<string, Promise<Record<string, unknown>>>();

function importOnce(url: string): Promise<Record<string, unknown>> {
  let loaded = modules.get(url);
  if (!loaded) {
    loaded = import(url) as Promise<Record<string, unknown>>;
    modules.set(url, loaded);
    loaded.catch(() => modules.delete(url));
  }
  return loaded;
}

/**
 * Runs `fn` in the trace context that propagation headers carry (`traceparent`...), when
 * @opentelemetry/api is installed and a propagator registered; as it is otherwise. A worker's call
 * runs so; code that receives a call's headers elsewhere can do the same.
 */
export async function runInTraceContext<T>(headers: Record<string, string> | undefined, fn: () => T): Promise<T> {
  if (!headers || Object.keys(headers).length === 0) return fn();
  otel ??= import('@opentelemetry/api').then((api) => api as unknown as OtelApi, () => undefined);
  const api = await otel;
  if (!api) return fn();
  let extracted: unknown;
  try {
    extracted = api.propagation.extract(api.context.active(), headers);
  } catch {
    return fn();
  }
  return api.context.with(extracted, fn);
}

/**
 * Runs one call where it arrived (in a worker thread or child process): imports the module, calls
 * the export, and replies. Never rejects: a missing export, a throw, or a result that cannot be
 * cloned back comes back as an error reply.
 */
export async function runWorkerCall(call: WorkerCall): Promise<WorkerReply> {
  try {
    const loaded = await importOnce(call.module);
    const fn = loaded[call.exportName];
    if (typeof fn !== 'function') throw new ConfigurationError(`${call.module} exports no function named ${call.exportName}`);
    const given = call.args.map((arg, index) => (call.errorArgs?.includes(index) ? rebuildError(arg as SerializedError) : arg));
    const args = call.injected ? [call.injected, ...given] : given;
    const value: unknown = await runInTraceContext(call.traceHeaders, () => (fn as (...a: unknown[]) => unknown)(...args));
    try {
      structuredClone(value);
    } catch (error) {
      throw new EncodeError(`the result of ${call.exportName} cannot leave the worker (only structured-cloneable values can): ${error instanceof Error ? error.message : String(error)}`);
    }
    return { ok: true, value };
  } catch (error) {
    try {
      return { ok: false, error: serializeError(error) };
    } catch {
      // serializeError never throws; should it, the call still gets an answer.
      return { ok: false, error: { name: 'Error', message: 'the target failed with an error that could not be read', props: {}, retryable: true } };
    }
  }
}
