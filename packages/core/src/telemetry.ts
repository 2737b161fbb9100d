import type { DeadLetterReason } from './dead-letter.ts';
import { describeError } from './errors.ts';
import { loggerOf, type LogFields, type Logger } from './logger.ts';

/** Which route an event is about: its context's and its own metric label. */
export interface RouteLabels {
  readonly context: string;
  readonly route: string;
}

/** An error as events carry it: name and message only (never the payload or a stack). */
export interface ErrorSummary {
  readonly name: string;
  readonly message: string;
}

/** A broker connection an event is about: the adapter and the broker with any secret removed. */
export interface ConnectionLabels {
  readonly adapter: string;
  /** Host and port or a redacted URL: never a password, token or seed. */
  readonly broker: string;
}

/** What one route consumes or exposes, for the start-up summary. */
export interface RouteSummary extends RouteLabels {
  readonly entrypoint: string;
  /** Broker names (queue, exchange, topic, subject, group...) as the entrypoint describes them. */
  readonly names: Readonly<Record<string, unknown>>;
  readonly backoff: Readonly<Record<string, unknown>> | null;
}

/**
 * Everything the framework reports about a running service. An observer implements the events it
 * cares for; the logger of the service and the metrics are observers. Methods must not throw (a
 * throw is swallowed, never failing the work reported on) and must return at once.
 */
export interface ServiceObserver {
  /** The runner started: every route with its entrypoint's broker names. */
  started?(event: { readonly service: string; readonly routes: readonly RouteSummary[] }): void;
  /** An entrypoint received a message (before decoding). */
  received?(event: RouteLabels): void;
  /** A worker began running the target (an attempt). */
  taskStarted?(event: RouteLabels): void;
  /** A worker finished; `error` when the attempt failed. */
  taskFinished?(event: RouteLabels & { readonly durationSeconds: number; readonly error?: ErrorSummary }): void;
  /** A failed attempt will be tried again after `delayMs` (attempt: the one that failed, from 1). */
  retryScheduled?(event: RouteLabels & { readonly attempt: number; readonly delayMs: number; readonly error: ErrorSummary }): void;
  /** An attempt failed for the last time (no retry left) and the route's callback handles it. */
  callbackCalled?(event: RouteLabels & { readonly attempt: number; readonly error: ErrorSummary }): void;
  /** A message went to the dead-letter destination (its final failure). */
  deadLettered?(event: RouteLabels & { readonly reason: DeadLetterReason; readonly attempt: number; readonly error: ErrorSummary }): void;
  /** A message went back to the broker: on a stop (`stopping`) or because it could not be settled. */
  givenBack?(event: RouteLabels & { readonly cause: 'stopping' | 'failure'; readonly delayMs: number; readonly count: number; readonly error?: ErrorSummary }): void;
  /**
   * A message was lost because the protocol cannot hand it back (core NATS, at most once): on a stop
   * (`stopping`), or because neither the route nor its dead letter could settle it (`failure`).
   */
  dropped?(event: RouteLabels & { readonly cause: 'stopping' | 'failure'; readonly error?: ErrorSummary }): void;
  /** An RPC call a service made (through RpcProxy) ended: `outcome` ok, remote-error, timeout, no-responders, target-not-found or error. */
  rpcCall?(event: { readonly remoteService: string; readonly target: string; readonly outcome: string; readonly durationSeconds: number }): void;
  /** A broker connection dropped. */
  connectionLost?(event: ConnectionLabels & { readonly error?: ErrorSummary }): void;
  /** A broker connection is up again after a drop. */
  connectionRestored?(event: ConnectionLabels): void;
  /** A consume loop ended unexpectedly and will be restarted after `delayMs`. */
  consumerCrashed?(event: { readonly consumer: string; readonly delayMs: number; readonly error: ErrorSummary }): void;
  /** A pool of worker threads or child processes failed outside any call (a thread that died while idle, a close that failed). */
  workerPoolError?(event: { readonly context: string; readonly mode: string; readonly error: ErrorSummary }): void;
  /** A crashed consume loop runs again. */
  consumerReplaced?(event: { readonly consumer: string }): void;
  /** A stop began: intake stops, in-flight calls drain until the deadline. */
  stopBegun?(event: { readonly service: string; readonly timeoutMs: number }): void;
  /** Every in-flight call finished within the deadline. */
  stopDrained?(event: { readonly service: string; readonly seconds: number }): void;
  /**
   * The deadline passed with work unfinished: `running` target calls, `unsettled` deliveries and calls
   * in all (those include messages whose settlement was still under way). Their messages are redelivered.
   */
  stopTimedOut?(event: { readonly service: string; readonly seconds: number; readonly running: number; readonly unsettled: number }): void;
  /** The runner stopped. */
  stopped?(event: { readonly service: string; readonly errors: number }): void;
}

type EventName = keyof ServiceObserver;
type EventOf<K extends EventName> = Parameters<NonNullable<ServiceObserver[K]>>[0];

/** An error's name and message, read safely (see describeError). */
export function summarizeError(error: unknown): ErrorSummary {
  const { name, message } = describeError(error);
  return { name, message };
}

/**
 * An observer or logger method may be async although its contract says void: a rejected promise it
 * returns is caught here, never left to end the process as an unhandled rejection.
 */
function ignoreRejection(result: unknown): void {
  if ((typeof result !== 'object' && typeof result !== 'function') || result === null) return;
  try {
    const then = (result as { then?: unknown }).then;
    if (typeof then === 'function') then.call(result, undefined, () => undefined);
  } catch {
    // A hostile thenable: nothing to wait for.
  }
}

/** Hands each event to every observer; a throwing observer is skipped, never the caller. */
export class Telemetry {
  readonly #observers: ServiceObserver[];

  constructor(observers: readonly ServiceObserver[] = []) {
    this.#observers = [...observers];
  }

  /** Adds an observer (before start, to see the start-up summary). */
  add(observer: ServiceObserver): void {
    this.#observers.push(observer);
  }

  /**
   * True when some observer handles `name`: a caller may skip building an event nobody would
   * receive (emit hands each event only to the observers that handle it).
   */
  wants(name: EventName): boolean {
    for (const observer of this.#observers) if (observer[name]) return true;
    return false;
  }

  /** Reports one event. */
  emit<K extends EventName>(name: K, event: EventOf<K>): void {
    for (const observer of this.#observers) {
      const handler = observer[name] as ((event: EventOf<K>) => void) | undefined;
      if (!handler) continue;
      try {
        ignoreRejection(handler.call(observer, event));
      } catch {
        // An observer never fails the work it observes.
      }
    }
  }
}

/** Telemetry reporting to nobody. */
export const noTelemetry = new Telemetry();

let standalone: Telemetry | undefined;

/**
 * What clients used outside a runner (an RPC client or a publisher of a script) report to: the
 * default logger (JSON lines on standard error, `info` and above).
 */
export function defaultTelemetry(): Telemetry {
  standalone ??= new Telemetry([new LoggingObserver(loggerOf({}))]);
  return standalone;
}

const fields = (event: object): LogFields => event as LogFields;

/**
 * Logs the events an operator needs: start-up summary, final failures and dead letters, give-backs,
 * connections lost and restored, consumers crashed and replaced, and the phases of a stop (info and
 * above); retries scheduled and stop hand-backs at debug. Received messages and attempts are counted
 * by metrics, not logged.
 */
export class LoggingObserver implements ServiceObserver {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', event: object, message: string): void {
    try {
      ignoreRejection(this.#logger[level](fields(event), message));
    } catch {
      // A logger never fails the work it reports on.
    }
  }

  started(event: EventOf<'started'>): void {
    this.#log('info', event, `${event.service} started with ${event.routes.length} route(s)`);
  }

  retryScheduled(event: EventOf<'retryScheduled'>): void {
    this.#log('debug', event, `retry of ${event.route} scheduled in ${event.delayMs} ms after attempt ${event.attempt} failed`);
  }

  callbackCalled(event: EventOf<'callbackCalled'>): void {
    this.#log('warn', event, `${event.route}: final failure after attempt ${event.attempt} (${event.error.name}: ${event.error.message}); running the callback`);
  }

  deadLettered(event: EventOf<'deadLettered'>): void {
    this.#log('warn', event, `${event.route}: message dead-lettered (${event.reason}) after attempt ${event.attempt}: ${event.error.name}: ${event.error.message}`);
  }

  givenBack(event: EventOf<'givenBack'>): void {
    if (event.cause === 'stopping') this.#log('debug', event, `${event.route}: message handed back to the broker (stopping)`);
    else this.#log('warn', event, `${event.route}: message handed back to the broker in ${event.delayMs} ms (failure ${event.count} to settle it)`);
  }

  dropped(event: EventOf<'dropped'>): void {
    const why = event.error ? `: ${event.error.name}: ${event.error.message}` : '';
    this.#log('warn', event, `${event.route}: message dropped (${event.cause}); the protocol cannot hand it back${why}`);
  }

  connectionLost(event: EventOf<'connectionLost'>): void {
    this.#log('warn', event, `${event.adapter} connection to ${event.broker} lost${event.error ? `: ${event.error.message}` : ''}`);
  }

  connectionRestored(event: EventOf<'connectionRestored'>): void {
    this.#log('info', event, `${event.adapter} connection to ${event.broker} restored`);
  }

  consumerCrashed(event: EventOf<'consumerCrashed'>): void {
    this.#log('error', event, `consumer ${event.consumer} crashed (${event.error.name}: ${event.error.message}); restarting in ${event.delayMs} ms`);
  }

  workerPoolError(event: EventOf<'workerPoolError'>): void {
    this.#log('error', event, `worker ${event.mode === 'thread' ? 'threads' : 'processes'} of context ${event.context}: ${event.error.name}: ${event.error.message}`);
  }

  consumerReplaced(event: EventOf<'consumerReplaced'>): void {
    this.#log('info', event, `consumer ${event.consumer} running again`);
  }

  stopBegun(event: EventOf<'stopBegun'>): void {
    this.#log('info', event, `${event.service} stopping (deadline ${event.timeoutMs} ms)`);
  }

  stopDrained(event: EventOf<'stopDrained'>): void {
    this.#log('info', event, `${event.service} drained in ${event.seconds.toFixed(3)} s`);
  }

  stopTimedOut(event: EventOf<'stopTimedOut'>): void {
    this.#log('error', event, `${event.service} stop timed out after ${event.seconds.toFixed(3)} s with ${event.running} call(s) still running; their messages are left to the broker (lost where it cannot redeliver, as on core NATS)`);
  }

  stopped(event: EventOf<'stopped'>): void {
    this.#log('info', event, `${event.service} stopped`);
  }
}
