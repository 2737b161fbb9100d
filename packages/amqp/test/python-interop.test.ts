import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BackoffContext, MetaDependency, RemoteError, Route, RpcTargetNotFound, inject } from '@micro-framework/core';
import { waitFor } from '@micro-framework/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBackoff, AmqpEventListener, AmqpPublisher, AmqpRpcClient, AmqpRpcListener } from '../src/index.ts';
import { rabbit, unique, url } from './helpers.ts';
import { peer, servePeer, type PeerService } from './python-peer.ts';

// Interop with a real Python peer (tools/python-peer/peer.py on kombu) speaking micro_framework's wire
// format: RPC both ways, remote errors both ways, events both ways in both start orders.
const { channel, serve, connection: shared } = rabbit();
const peers: PeerService[] = [];
const clients: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(peers.splice(0).map((service) => service.stop()));
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

async function pythonService(service: string, listen: string[] = []): Promise<PeerService> {
  const started = await servePeer(service, listen);
  peers.push(started);
  return started;
}

function rpcClient(): AmqpRpcClient {
  const client = new AmqpRpcClient({ amqp: { url } });
  clients.push(client);
  return client;
}

function publisher(sourceService: string): AmqpPublisher {
  const created = new AmqpPublisher({ sourceService, amqp: { url } });
  clients.push(created);
  return created;
}

describe('a Python client calls a TypeScript service', () => {
  async function tsService(): Promise<string> {
    const service = unique('tscalc');
    function add(a: number, b: number): number {
      return a + b;
    }
    function greet(name: string, options: { greeting?: string } = {}): string {
      return `${options.greeting ?? 'hello'}, ${name}`;
    }
    function parse(): never {
      throw Object.assign(new Error('not a number: x'), { name: 'ValueError', data: { field: 'x' } });
    }
    function evaluate(): never {
      throw Object.assign(new Error('__import__("os").getpid()'), { name: 'eval' });
    }
    function reserve(sku: string): never {
      throw Object.assign(new Error(`no stock for ${sku}`), { name: 'OutOfStock', data: { sku } });
    }
    await serve(service, [add, greet, parse, reserve, evaluate].map((target) => new Route({ target, entrypoint: new AmqpRpcListener() })));
    return service;
  }

  it('gets the data of a call with args and kwargs', async () => {
    const service = await tsService();
    expect(await peer('call', '--service', service, '--target', 'add', '--args', '[2, 3]')).toEqual({ data: 5 });
    expect(await peer('call', '--service', service, '--target', 'greet', '--args', '["añn"]', '--kwargs', '{"greeting": "hi ✓"}')).toEqual({ data: 'hi ✓, añn' });
  });

  it('gets a TypeScript error by its name: a Python builtin as itself, any other as RPCException', async () => {
    const service = await tsService();
    // Python builtins take no keyword arguments: the error's data travels outside kwargs.
    expect(await peer('call', '--service', service, '--target', 'parse')).toMatchObject({ error: { type: 'ValueError', args: ['not a number: x'] } });
    const reply = await peer('call', '--service', service, '--target', 'reserve', '--args', '["A"]');
    expect(reply).toMatchObject({
      error: { type: 'RPCException', remote: { exception: 'OutOfStock', message: 'no stock for A', kwargs: {}, data: { sku: 'A' } } },
    });
  });

  it('gets RPCTargetDoesNotExist for a target the service does not expose, and can list the targets', async () => {
    const service = await tsService();
    expect(await peer('call', '--service', service, '--target', 'missing')).toMatchObject({ error: { type: 'RPCTargetDoesNotExist' } });
    const listed = await peer('call', '--service', service, '--target', '__list_targets__');
    expect((listed['data'] as Array<{ target: string }>).map((target) => target.target).sort()).toEqual(['add', 'evaluate', 'greet', 'parse', 'reserve']);
    expect(await peer('call', '--service', service, '--target', '__get_target__', '--args', '["add"]')).toMatchObject({ data: { target: 'add' } });
  });
});

describe('an error name a Python client would call as something else than an exception', () => {
  it('reaches Python as RemoteError with the name in the message, never as a builtin like eval', async () => {
    const service = unique('tscalc');
    function evaluate(): never {
      throw Object.assign(new Error('__import__("os").getpid()'), { name: 'eval' });
    }
    await serve(service, [new Route({ target: evaluate, entrypoint: new AmqpRpcListener() })]);
    expect(await peer('call', '--service', service, '--target', 'evaluate')).toMatchObject({
      error: { type: 'RPCException', remote: { exception: 'RemoteError', message: 'eval: __import__("os").getpid()' } },
    });
  });
});

describe('a TypeScript client calls a Python service', () => {
  it('gets the data of a call with args and kwargs', async () => {
    const service = unique('pycalc');
    await pythonService(service);
    const client = rpcClient();
    expect(await client.call(service, 'add', [6, 3], { timeoutMs: 10_000 })).toBe(9);
    expect(await client.call(service, 'greet', ['bob'], { kwargs: { greeting: 'hey' }, timeoutMs: 10_000 })).toBe('hey, bob');
  });

  it('gets a Python exception as a RemoteError with its name', async () => {
    const service = unique('pycalc');
    await pythonService(service);
    const client = rpcClient();
    const error = await client.call(service, 'divide', [1, 0], { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ remoteName: 'ZeroDivisionError', remoteMessage: 'division by zero' });
    await expect(client.call(service, 'reserve', ['B'], { timeoutMs: 10_000 })).rejects.toMatchObject({ remoteName: 'OutOfStock', remoteMessage: 'no stock for B' });
  });

  it('tells a target the Python service does not expose from a service that is down, and lists targets', async () => {
    const service = unique('pycalc');
    await pythonService(service);
    const client = rpcClient();
    await expect(client.call(service, 'missing', [], { timeoutMs: 10_000 })).rejects.toBeInstanceOf(RpcTargetNotFound);
    const targets = (await client.listTargets(service, { timeoutMs: 10_000 })) as unknown as Array<{ target: string }>;
    expect(targets.map((target) => target.target)).toContain('add');
  });
});

describe('events from Python to TypeScript', () => {
  function recorder(): { seen: Array<{ payload: unknown; headers: unknown; retry: number }>; target: (payload: unknown) => void } {
    const seen: Array<{ payload: unknown; headers: unknown; retry: number }> = [];
    const target = inject({ meta: new MetaDependency(), retry: new BackoffContext() }, function handleOrder({ meta, retry }, payload: unknown) {
      seen.push({ payload, headers: meta.headers, retry: retry.retryCount });
    });
    return { seen, target };
  }

  it('reaches a TypeScript listener that started first', async () => {
    const source = unique('pyside');
    const { seen, target } = recorder();
    await serve(unique('billing'), [new Route({ target, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'order_placed' }) })]);
    expect(await peer('dispatch', '--source', source, '--event', 'order_placed', '--payload', '{"id": 1, "note": "é"}', '--header', 'trace=t-1')).toEqual({ published: true });
    await waitFor(() => seen.length === 1, 'the event');
    expect(seen[0]).toMatchObject({ payload: { id: 1, note: 'é' }, headers: { trace: 't-1' } });
  });

  it('reaches a TypeScript listener started where a Python listener declared the exchange, and each gets a copy', async () => {
    const source = unique('pyside');
    const python = await pythonService(unique('pyshop'), [`${source}.order_placed`]);
    const { seen, target } = recorder();
    await serve(unique('billing'), [new Route({ target, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'order_placed' }) })]);
    await peer('dispatch', '--source', source, '--event', 'order_placed', '--payload', '{"id": 2}');
    await waitFor(() => seen.length === 1 && python.events().length === 1, 'a copy on each side');
    expect(seen[0]!.payload).toEqual({ id: 2 });
    expect(python.events()[0]).toMatchObject({ payload: { id: 2 } });
  });

  it('is retried by a TypeScript route with its payload and headers intact', async () => {
    const source = unique('pyside');
    const seen: Array<{ payload: unknown; trace: unknown; retry: number }> = [];
    const handleOrder = inject({ meta: new MetaDependency(), retry: new BackoffContext() }, function handleOrder({ meta, retry }, payload: unknown) {
      seen.push({ payload, trace: meta.headers['trace'], retry: retry.retryCount });
      if (seen.length === 1) throw new Error('try again');
    });
    await serve(unique('billing'), [
      new Route({ target: handleOrder, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'order_placed' }), backoff: new AmqpBackoff({ maxRetries: 2, interval: 100 }) }),
    ]);
    await peer('dispatch', '--source', source, '--event', 'order_placed', '--payload', '{"id": 3}', '--header', 'trace=t-3');
    await waitFor(() => seen.length === 2, 'the retry');
    expect(seen).toEqual([
      { payload: { id: 3 }, trace: 't-3', retry: 0 },
      { payload: { id: 3 }, trace: 't-3', retry: 1 },
    ]);
  });
});

describe('events from TypeScript to Python', () => {
  it('never fail the replies, retries and dead letters sharing the connection when the exchange was auto-deleted', async () => {
    const source = unique('tsside');
    const events = new AmqpPublisher({ sourceService: source, connection: shared });
    await events.publish('shipped', { id: 0 });
    await channel().deleteExchange(`${source}.events`);
    const { queue } = await channel().assertQueue('', { exclusive: true });
    const body = new TextEncoder().encode('{}');
    await Promise.all([events.publish('shipped', { id: 1 }), ...Array.from({ length: 5 }, () => shared.publish('', queue, body, { mandatory: true }))]);
    await waitFor(async () => (await channel().checkQueue(queue)).messageCount === 5, 'the five copies in the queue');
  });

  it('reach a Python listener that started first', async () => {
    const source = unique('tsside');
    const python = await pythonService(unique('pyshop'), [`${source}.shipped`]);
    await publisher(source).publish('shipped', { id: 4, note: 'café ✓' }, { headers: { trace: 't-4' } });
    await waitFor(() => python.events().length === 1, 'the event in Python');
    expect(python.events()[0]).toMatchObject({ payload: { id: 4, note: 'café ✓' }, headers: { trace: 't-4' }, content_type: 'application/json', routing_key: 'shipped' });
  });

  it('reach a Python listener that started after the TypeScript publisher declared the exchange', async () => {
    const source = unique('tsside');
    const events = publisher(source);
    await events.publish('shipped', { id: 5 });
    const python = await pythonService(unique('pyshop'), [`${source}.shipped`]);
    await events.publish('shipped', { id: 6 });
    await waitFor(() => python.events().length === 1, 'the event in Python');
    expect(python.events()[0]).toMatchObject({ payload: { id: 6 } });
  });

  it('still publish after RabbitMQ auto-deleted the exchange with its last binding', async () => {
    const source = unique('tsside');
    const events = publisher(source);
    const first = await pythonService(unique('pyshop'), [`${source}.shipped`]);
    await events.publish('shipped', { id: 7 });
    await waitFor(() => first.events().length === 1, 'the first event');
    await first.stop();
    for (const queue of await boundQueues(source)) await channel().deleteQueue(queue);
    await waitFor(async () => !(await exchangeExists(`${source}.events`)), 'RabbitMQ to auto-delete the exchange');
    await events.publish('shipped', { id: 8 });
    const second = await pythonService(unique('pyshop'), [`${source}.shipped`]);
    await events.publish('shipped', { id: 9 });
    await waitFor(() => second.events().length === 1, 'the event after the exchange came back');
    expect(second.events()[0]).toMatchObject({ payload: { id: 9 } });
  });
});

describe('an events exchange declared otherwise (by an earlier version of this package)', () => {
  it('of another type is refused at start (a topic binding on a fanout exchange would take every event)', async () => {
    const source = unique('fanout');
    await channel().assertExchange(`${source}.events`, 'fanout', { durable: true, autoDelete: false });
    function handleFanout(): void {}
    await expect(serve(unique('billing'), [new Route({ target: handleFanout, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) })])).rejects.toThrow(/inequivalent arg 'type'/);
    await channel().deleteExchange(`${source}.events`);
  });

  it('is declared without auto-delete when amqp.eventExchangeAutoDelete is false (next to Nameko services that do so)', async () => {
    const source = unique('nameko');
    function handleNameko(): void {}
    await serve(unique('billing'), [new Route({ target: handleNameko, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) })], { amqp: { url, eventExchangeAutoDelete: false } });
    const exchanges = (await rabbitmqctl('list_exchanges', 'name', 'auto_delete')) as Array<{ name: string; auto_delete: boolean }>;
    expect(exchanges.find((exchange) => exchange.name === `${source}.events`)).toMatchObject({ auto_delete: false });
    const events = new AmqpPublisher({ sourceService: source, amqp: { url, eventExchangeAutoDelete: false } });
    clients.push(events);
    await events.publish('made', { id: 11 });
  });

  it('is used as it is by listeners and publishers', async () => {
    const source = unique('legacy');
    await channel().assertExchange(`${source}.events`, 'topic', { durable: true, autoDelete: false });
    const seen: unknown[] = [];
    function handleLegacy(payload: unknown): void {
      seen.push(payload);
    }
    await serve(unique('billing'), [new Route({ target: handleLegacy, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) })]);
    await publisher(source).publish('made', { id: 10 });
    await waitFor(() => seen.length === 1, 'the event');
    expect(seen).toEqual([{ id: 10 }]);
  });
});

const rabbitmqctl = async (...args: string[]): Promise<unknown> =>
  JSON.parse((await promisify(execFile)('rabbitmqctl', [...args, '--formatter', 'json', '-q'], { encoding: 'utf8' })).stdout);

/** Queues bound to `<source>.events`, from the broker's own listing. */
async function boundQueues(source: string): Promise<string[]> {
  const rows = (await rabbitmqctl('list_bindings', 'source_name', 'destination_name')) as Array<{
    source_name: string;
    destination_name: string;
  }>;
  return rows.filter((row) => row.source_name === `${source}.events`).map((row) => row.destination_name);
}

async function exchangeExists(name: string): Promise<boolean> {
  const rows = (await rabbitmqctl('list_exchanges', 'name')) as Array<{ name: string }>;
  return rows.some((row) => row.name === name);
}
