/**
 * The consumer service of a chaos run, in a process of its own (the orchestrator kills, stops and
 * restarts it). argv[2] is a JSON ConsumerArguments. Three routes, maxWorkers 50:
 * 1. events: a CallbackRoute with the broker's delayed backoff (2 retries, 200 ms) and a callback;
 * 2. keyed: a Route on the keyed channel (no retries: a failure is a dead letter);
 * 3. echo: an RPC target.
 * Every call of a target is journaled before the target returns (see JournalWriter). Prints READY once
 * consuming; SIGTERM stops it gracefully (in-flight calls drain) and exits 0.
 */
import { CallbackRoute, MetaDependency, Route, Runner, SchemaTranslator, inject, type Meta } from '@micro-framework/core';
import { z } from 'zod';
import { loadDriver } from './drivers/index.ts';
import { JournalWriter, type JournalRoute } from './journal.ts';
import type { ChaosPayload, MessageKind } from './messages.ts';
import { rpcTargetName, type ConsumerArguments, type EchoRequest } from './service-contract.ts';

const kinds = ['ok', 'bad-json', 'schema-reject', 'throw-once', 'throw-always', 'throw-always-dead', 'throw-non-error', 'multi-line'] as const satisfies readonly MessageKind[];
const payloadSchema = z.object({
  id: z.string(),
  kind: z.enum(kinds),
  publisher: z.number().int(),
  key: z.string().optional(),
  seq: z.number().int().optional(),
});

const args = JSON.parse(process.argv[2] ?? '{}') as ConsumerArguments;
const driver = await loadDriver(args.broker);
if (!driver) throw new Error(`no driver for ${args.broker}`);
const bindings = driver.bindings(args.spec, args.serviceName);
const journal = new JournalWriter(args.journal);
const meta = new MetaDependency();

/** Simulated work of 5–40 ms (a call to a database, say), so a kill finds calls in flight. */
const work = (id: string): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5 + ((id.length * 7 + id.charCodeAt(id.length - 1) * 13 + id.charCodeAt(id.length - 2)) % 36)));

function record(route: JournalRoute, outcome: 'ok' | 'failed', payload: ChaosPayload, info: Meta): void {
  const delivery = typeof info['deliveryCount'] === 'number' ? info['deliveryCount'] : undefined;
  journal.append({ route, id: payload.id, outcome, attempt: info.retry.retryCount + 1, delivery, key: payload.key, seq: payload.seq, kind: payload.kind });
}

const handleEvent = inject({ meta }, async function handleEvent({ meta: info }, payload: ChaosPayload): Promise<void> {
  await work(payload.id);
  const fail = (thrown: unknown): never => {
    record('event', 'failed', payload, info);
    throw thrown;
  };
  switch (payload.kind) {
    case 'throw-once':
      if (info.retry.retryCount === 0) fail(new Error(`${payload.id} fails on its first attempt`));
      break;
    case 'throw-always':
    case 'throw-always-dead':
      fail(new Error(`${payload.id} fails on every attempt`));
      break;
    case 'throw-non-error':
      fail({ code: 'E_NOT_AN_ERROR', id: payload.id });
      break;
    case 'multi-line':
      fail(new Error(`${payload.id} fails\r\nwith a second line\nand a third`));
      break;
    default:
      break;
  }
  record('event', 'ok', payload, info);
});

const eventCallback = inject({ meta }, function eventCallback({ meta: info }, payload: ChaosPayload, error: Error): void {
  if (payload.kind === 'throw-always-dead' || payload.kind === 'multi-line') {
    record('callback', 'failed', payload, info);
    throw payload.kind === 'multi-line' ? error : new Error(`the callback of ${payload.id} fails too`);
  }
  record('callback', 'ok', payload, info);
});

const handleKeyed = inject({ meta }, async function handleKeyed({ meta: info }, payload: ChaosPayload): Promise<void> {
  await work(payload.id);
  if (payload.kind !== 'ok') {
    record('keyed', 'failed', payload, info);
    throw new Error(`${payload.id} (${payload.kind}) fails on the keyed route`);
  }
  record('keyed', 'ok', payload, info);
});

async function echo(request: EchoRequest): Promise<{ id: string }> {
  await work(request.id);
  const entry = { route: 'rpc' as const, id: request.id, attempt: 1 };
  if (request.fail) {
    journal.append({ ...entry, outcome: 'failed' });
    throw new Error(`call ${request.id} asked to fail`);
  }
  journal.append({ ...entry, outcome: 'ok' });
  return { id: request.id };
}

const translators = [new SchemaTranslator(payloadSchema)];
const runner = new Runner({
  config: { serviceName: args.serviceName, maxWorkers: args.maxWorkers, ...bindings.config },
  contexts: [{
    routes: [
      new CallbackRoute({
        target: handleEvent,
        callbackTarget: eventCallback,
        entrypoint: bindings.eventEntrypoint(),
        translators,
        backoff: bindings.delayedBackoff({ maxRetries: 2, interval: 200 }),
      }),
      new Route({ target: handleKeyed, entrypoint: bindings.keyedEntrypoint(), translators }),
      new Route({ target: echo, entrypoint: bindings.rpcEntrypoint(rpcTargetName) }),
    ],
  }],
});
runner.stopOnSignals({
  timeoutMs: args.stopTimeoutMs,
  onStopped: (error) => {
    journal.close();
    if (error) process.stderr.write(`stopped with errors: ${String(error)}\n`);
    process.exit(error ? 1 : 0);
  },
});
await runner.start();
process.stdout.write('READY\n');
