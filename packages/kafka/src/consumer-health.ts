import { describeError, type Telemetry } from '@micro-framework/core';
import type { Consumer } from 'kafkajs';

/** Longest a consumer may go without an answer from Kafka before its connection is reported lost. */
export const answerSilenceMs = 5_000;

/**
 * Longest a group join may go without an answer: the coordinator holds a JoinGroup request until
 * every member has rejoined, up to the rebalance timeout (kafkajs's default, 60 s).
 */
export const joinSilenceMs = 60_000;

export interface ConsumerHealthOptions {
  /** What the consumer is, in readiness reasons: `consumer of orders`. */
  readonly name: string;
  /** The brokers, as connection events name them (no credentials). */
  readonly broker: string;
  readonly telemetry: Telemetry;
  /** Default answerSilenceMs. */
  readonly silenceMs?: number;
  /** Default joinSilenceMs. */
  readonly joinSilenceMs?: number;
}

type Phase =
  | { readonly kind: 'connecting' | 'joining' | 'consuming' }
  | { readonly kind: 'crashed' | 'stopped'; readonly reason: string };

/**
 * Whether a kafkajs consumer consumes and is connected, for readiness and the connectionLost /
 * connectionRestored events: kafkajs retries a lost broker quietly and tells nothing.
 *
 * Connected means Kafka answers. Every request of the consumer that gets a response proves the
 * connection, whatever the response says (fetches, heartbeats, commits, joins, metadata:
 * consumer.events.REQUEST). After `silenceMs` (5 s) without one the connection is reported lost, and
 * restored with the next answer; the consumer is not ready in between. An idle consumer is answered
 * several times a second (fetches wait at most maxWaitTimeInMs). kafkajs does not fetch while a batch
 * runs, so the owner heartbeats every second during a batch, whatever its handlers do (see
 * heartbeatWhileRunning; kafkajs sends one per heartbeatInterval, which must be well under 5 s): a
 * slow or stuck handler is never silence, and never hides a lost connection either, since its
 * heartbeats then go unanswered and the silence grows as for an idle consumer.
 *
 * The one silence excused is a group join (from CONNECT or REBALANCING until GROUP_JOIN): the
 * coordinator holds the JoinGroup request until every member rejoined, which lasts as long as the
 * slowest member's running batch; it is allowed `joinSilenceMs`. A cut during a join fails the
 * join: kafkajs retries it, then crashes the consumer, which is judged at `silenceMs` again, so a
 * loss that begins in a join is reported once kafkajs gives the join up, at most `joinSilenceMs` late.
 *
 * Consuming means the consumer is neither stopped nor crashed: a crash, and a stop its owner did not
 * ask for (the owner calls follow() with the next consumer, or stop(), before it disconnects one),
 * keep it not ready until it connects again (a kafkajs restart) or is replaced. A crashed consumer is
 * still judged at `silenceMs` (kafkajs or the owner keeps connecting it); a stopped one asks Kafka
 * nothing, so its silence is no lost connection.
 */
export class ConsumerHealth {
  readonly #options: ConsumerHealthOptions;
  #phase: Phase = { kind: 'stopped', reason: 'not started' };
  #lastAnswer = performance.now();
  #lost = false;
  #lastCheck = 0;
  #removers: Array<() => void> = [];
  #watch: NodeJS.Timeout | undefined;

  constructor(options: ConsumerHealthOptions) {
    this.#options = options;
  }

  /**
   * Follows `consumer` from now on; call it before the consumer connects. Events of the consumer
   * followed before are ignored from now on. Starts the watch that reports a lost connection.
   */
  follow(consumer: Consumer): void {
    this.#unfollow();
    this.#phase = { kind: 'connecting' };
    const { events } = consumer;
    const name = this.#options.name;
    this.#removers = [
      consumer.on(events.REQUEST, () => this.#answered()),
      consumer.on(events.CONNECT, () => (this.#phase = { kind: 'joining' })),
      consumer.on(events.REBALANCING, () => (this.#phase = { kind: 'joining' })),
      consumer.on(events.GROUP_JOIN, () => {
        this.#answered();
        this.#phase = { kind: 'consuming' };
      }),
      consumer.on(events.STOP, () => this.#stopped(`${name} stopped`)),
      consumer.on(events.DISCONNECT, () => this.#stopped(`${name} disconnected`)),
      consumer.on(events.CRASH, ({ payload }) => {
        const restart = payload.restart ? ', kafkajs restarts it' : '';
        const { name: errorName, message } = describeError(payload.error);
        this.#phase = { kind: 'crashed', reason: `${name} crashed (${errorName}: ${message})${restart}` };
      }),
    ];
    if (!this.#watch) {
      this.#lastCheck = performance.now();
      this.#watch = setInterval(() => this.#check(), 1_000);
      this.#watch.unref();
    }
  }

  /**
   * Why the consumer cannot take messages now (stopped, crashed, no answer from Kafka), or undefined.
   * A consumer in a group join is ready while the join is within its allowance.
   */
  readiness(): string | undefined {
    if (this.#phase.kind === 'crashed' || this.#phase.kind === 'stopped') return this.#phase.reason;
    const silentMs = performance.now() - this.#lastAnswer;
    if (this.#lost || silentMs > this.#allowedSilenceMs()) return `no answer from Kafka for ${Math.round(silentMs / 1_000)} s`;
    return undefined;
  }

  /** Stops following the consumer and reporting: its owner stops or disconnects it. */
  stop(): void {
    this.#unfollow();
    this.#phase = { kind: 'stopped', reason: `${this.#options.name} stopped` };
    clearInterval(this.#watch);
    this.#watch = undefined;
  }

  /** A stop or disconnect nobody asked for; a crash (disconnected after it) keeps its reason. */
  #stopped(reason: string): void {
    if (this.#phase.kind !== 'crashed') this.#phase = { kind: 'stopped', reason };
  }

  #unfollow(): void {
    for (const remove of this.#removers.splice(0)) remove();
  }

  #allowedSilenceMs(): number {
    return this.#phase.kind === 'joining' ? (this.#options.joinSilenceMs ?? joinSilenceMs) : (this.#options.silenceMs ?? answerSilenceMs);
  }

  /** Reports the connection lost once the silence passed its allowance. */
  #check(): void {
    const now = performance.now();
    const late = now - this.#lastCheck > 2_000;
    this.#lastCheck = now;
    // A late tick means the event loop was blocked (a handler computing, say): the answers may be
    // waiting to be read. Judge at the next tick.
    if (late) return;
    const silentMs = now - this.#lastAnswer;
    if (this.#lost || this.#phase.kind === 'stopped' || silentMs <= this.#allowedSilenceMs()) return;
    this.#lost = true;
    const message = `${this.#options.name}: no answer from Kafka for ${Math.round(silentMs / 1_000)} s`;
    this.#options.telemetry.emit('connectionLost', { adapter: 'kafka', broker: this.#options.broker, error: { name: 'KafkaSilence', message } });
  }

  #answered(): void {
    this.#lastAnswer = performance.now();
    if (!this.#lost) return;
    this.#lost = false;
    this.#options.telemetry.emit('connectionRestored', { adapter: 'kafka', broker: this.#options.broker });
  }
}

/**
 * Calls `heartbeat` every second until the returned function is called, for a batch that runs: the
 * consumer stays in its group, and each answered heartbeat proves the connection (see ConsumerHealth)
 * however long the handlers take. `skip` pauses the beats (an abandoned batch); `failed` sees each failure.
 */
export function heartbeatWhileRunning(heartbeat: () => Promise<void>, options: { skip?: () => boolean; failed?: (error: unknown) => void } = {}): () => void {
  const timer = setInterval(() => {
    if (options.skip?.()) return;
    heartbeat().catch((error: unknown) => options.failed?.(error));
  }, 1_000);
  // A batch abandoned at a stop's deadline must not keep the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
