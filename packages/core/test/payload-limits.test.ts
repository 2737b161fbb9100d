import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  DeadLetterHeader,
  InMemoryBroker,
  InMemoryEventListener,
  InMemoryRpcClient,
  InMemoryRpcListener,
  PayloadTooLarge,
  RemoteError,
  Route,
  RpcDispatcher,
  Runner,
  decodeJson,
  encodeJson,
  rpcRequestBody,
  type Config,
} from '../src/index.ts';
import { waitUntil } from './helpers.ts';

const runners: Runner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 1_000 })));
});

async function start(routes: Route[], config: Partial<Config> = {}): Promise<Runner> {
  const runner = new Runner({ config: { serviceName: 'limits', ...config }, contexts: [{ routes }] });
  runners.push(runner);
  await runner.start();
  return runner;
}

const bytes = (size: number): Uint8Array => new TextEncoder().encode(JSON.stringify('x'.repeat(size - 2)));

describe('maxPayloadBytes', () => {
  it('a route limit wins over config.maxPayloadBytes, both ways', async () => {
    const broker = new InMemoryBroker();
    const seen: Record<string, number[]> = { strict: [], lenient: [] };
    const route = (name: 'strict' | 'lenient', maxPayloadBytes: number): Route =>
      new Route({
        target: { [name]: (text: string) => void seen[name]!.push(text.length) }[name]!,
        entrypoint: new InMemoryEventListener({ sourceService: 'source', eventName: 'sized', broker }),
        maxPayloadBytes,
      });
    const strict = route('strict', 100);
    const lenient = route('lenient', 10_000);
    await start([strict, lenient], { maxPayloadBytes: 1_000 });
    for (const size of [100, 101, 5_000]) await broker.publish('source.sized', { body: bytes(size), headers: {} });
    await waitUntil(() => seen['lenient']!.length === 3 && broker.depth((strict.entrypoint as InMemoryEventListener).deadLetterQueueName) === 2, 'both routes to settle all three');
    expect(seen['strict']).toEqual([98]);
    const dead = broker.peek((strict.entrypoint as InMemoryEventListener).deadLetterQueueName);
    expect(dead.map((message) => message.headers[DeadLetterHeader.reason])).toEqual(['too-large', 'too-large']);
    expect(dead.map((message) => message.body.byteLength)).toEqual([101, 5_000]);
  });

  it('refuses a limit that is not a positive integer', async () => {
    const entrypoint = (): InMemoryEventListener => new InMemoryEventListener({ sourceService: 's', eventName: 'e', broker: new InMemoryBroker() });
    for (const bad of [0, -1, 1.5, Number.NaN, '10']) {
      expect(() => new Route({ target: () => undefined, entrypoint: entrypoint(), maxPayloadBytes: bad as number }), String(bad)).toThrow(ConfigurationError);
      const runner = new Runner({ config: { serviceName: 'bad', maxPayloadBytes: bad as number }, contexts: [{ routes: [new Route({ target: () => undefined, entrypoint: entrypoint() })] }] });
      await expect(runner.start(), String(bad)).rejects.toThrow(/maxPayloadBytes must be a positive integer/);
    }
  });

  it('an RPC request: refused unsent by the client, answered typed by the service, each target by its own limit', async () => {
    const broker = new InMemoryBroker();
    let runs = 0;
    const echo = (text: string): number => ((runs += 1), text.length);
    const small = new Route({ target: echo, entrypoint: new InMemoryRpcListener({ name: 'small', broker }), maxPayloadBytes: 200 });
    const large = new Route({ target: echo, entrypoint: new InMemoryRpcListener({ name: 'large', broker }), maxPayloadBytes: 5_000 });
    await start([small, large], { maxPayloadBytes: 100 });
    const client = new InMemoryRpcClient({ broker, maxPayloadBytes: 10_000 });
    const text = 'y'.repeat(1_000);
    expect(await client.call('limits', 'large', [text])).toBe(1_000);
    const answered = await client.call('limits', 'small', [text]).catch((error: unknown) => error);
    expect(answered).toBeInstanceOf(RemoteError);
    expect((answered as RemoteError).remoteName).toBe('PayloadTooLarge');
    const huge = await client.call('limits', 'large', ['z'.repeat(6_000)]).catch((error: unknown) => error);
    expect((huge as RemoteError).remoteName).toBe('PayloadTooLarge');
    const refused = await client.call('limits', 'large', ['z'.repeat(20_000)]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PayloadTooLarge);
    const perCall = await client.call('limits', 'large', [text], { maxPayloadBytes: 50 }).catch((error: unknown) => error);
    expect(perCall).toBeInstanceOf(PayloadTooLarge);
    for (const bad of [Number.NaN, 0, -5, 1.5, Infinity]) {
      await expect(client.call('limits', 'large', [text], { maxPayloadBytes: bad }), String(bad)).rejects.toThrow(ConfigurationError);
    }
    expect(runs).toBe(1);
    await client.close();
  });
});

describe('RpcDispatcher.answerIntrospection', () => {
  it('answers only the introspection commands: a target named on the introspection address runs nothing', async () => {
    const broker = new InMemoryBroker();
    let runs = 0;
    const adminOp = (): string => ((runs += 1), 'admin ran');
    const runner = await start([new Route({ target: adminOp, entrypoint: new InMemoryRpcListener({ broker }) })]);
    const dispatcher = new RpcDispatcher(runner);
    const ask = async (command: string, args: unknown[] = []): Promise<{ data: unknown; exception: { exception?: string } | null }> => {
      const answer = await dispatcher.answerIntrospection({ body: encodeJson(rpcRequestBody(command, args)), headers: {}, channel: 'introspection' });
      if (answer.kind !== 'reply') throw new Error(`unexpected ${answer.kind}`);
      return decodeJson(answer.body) as { data: unknown; exception: { exception?: string } | null };
    };
    expect((await ask('adminOp')).exception?.exception).toBe('RpcTargetNotFound');
    expect(runs).toBe(0);
    expect((await ask('__list_targets__')).data).toEqual([expect.objectContaining({ name: 'adminOp' })]);
    expect((await ask('__get_target__', ['adminOp'])).data).toEqual(expect.objectContaining({ name: 'adminOp' }));
    const huge = await dispatcher.answerIntrospection({ body: new Uint8Array(70_000).fill(0x20), headers: {}, channel: 'introspection' });
    expect(huge.kind === 'reply' && (decodeJson(huge.body) as { exception: { exception?: string } }).exception.exception).toBe('PayloadTooLarge');
    expect(runs).toBe(0);
  });
});
