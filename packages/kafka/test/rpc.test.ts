import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaRpcClient, KafkaRpcListener, brokersFromEnv } from '../src/index.ts';

const kafka = { brokers: brokersFromEnv(), logLevel: 0 };
const runners: Runner[] = [];
const client = new KafkaRpcClient({ kafka });

afterAll(async () => {
  await Promise.all(runners.map((runner) => runner.stop({ timeoutMs: 5_000 })));
  await client.close();
});

async function serve(serviceName: string, target: (...args: never[]) => unknown): Promise<void> {
  const runner = new Runner({ config: { serviceName, kafka }, contexts: [{ routes: [new Route({ target, entrypoint: new KafkaRpcListener() })] }] });
  runners.push(runner);
  await runner.start();
}

describe('Kafka RPC server', () => {
  it('answers a request sent as soon as its start resolved (a new group begins at the end of the topic)', async () => {
    function ping(): string {
      return 'pong';
    }
    function add(a: number, b: number): number {
      return a + b;
    }
    const warm = `warm-${randomUUID().slice(0, 8)}`;
    await serve(warm, ping);
    // The client is ready (its reply consumer runs) before the service under test starts.
    await expect(client.call(warm, 'ping', [], { timeoutMs: 30_000 })).resolves.toBe('pong');
    const service = `fresh-${randomUUID().slice(0, 8)}`;
    await serve(service, add);
    await expect(client.call(service, 'add', [2, 3], { timeoutMs: 5_000 })).resolves.toBe(5);
  }, 90_000);

  it('answers a caller after an earlier caller closed and deleted its reply topic', async () => {
    function echo(value: string): string {
      return value;
    }
    const service = `echo-${randomUUID().slice(0, 8)}`;
    await serve(service, echo);
    for (const round of [1, 2, 3]) {
      const caller = new KafkaRpcClient({ kafka });
      try {
        await expect(caller.call(service, 'echo', [`round ${round}`], { timeoutMs: 15_000 })).resolves.toBe(`round ${round}`);
      } finally {
        await caller.close();
      }
    }
  }, 120_000);
});
