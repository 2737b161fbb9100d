import { randomUUID } from 'node:crypto';
import { Route, Runner } from '@micro-framework/core';
import type { TcpProxy } from '@micro-framework/conformance';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaRpcClient, KafkaRpcListener, brokersFromEnv } from '../src/index.ts';
import { proxiedKafka } from './proxied-kafka.ts';
import { waitFor } from '@micro-framework/conformance';

let proxy: TcpProxy;
let proxied: string[];

beforeAll(async () => {
  ({ proxy, brokers: proxied } = await proxiedKafka());
});

afterAll(async () => {
  await proxy.close();
});

describe('an RPC service instance that dies without leaving its group', () => {
  it('hands its requests to the next instance within the caller\'s timeout (the request group waits 10 s for a dead member, not 30 s)', async () => {
    const service = `rejoin-${randomUUID().slice(0, 8)}`;
    function echo(n: number): number {
      return n;
    }
    const serviceOn = (brokers: string[]): Runner =>
      new Runner({ config: { serviceName: service, kafka: { brokers, logLevel: logLevel.NOTHING } }, contexts: [{ routes: [new Route({ target: echo, entrypoint: new KafkaRpcListener() })] }] });
    const first = serviceOn(proxied);
    await first.start();
    const client = new KafkaRpcClient({ kafka: { brokers: brokersFromEnv(), logLevel: logLevel.NOTHING } });
    await expect(client.call(service, 'echo', [1], { timeoutMs: 20_000 })).resolves.toBe(1);
    // Its group has committed the first request (a group with no offset yet starts at the end).
    const admin = new Kafka({ brokers: brokersFromEnv(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await waitFor(async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: `${service}.rpc`, topics: [`${service}.rpc`] });
      return offsets!.partitions.some((partition) => Number(partition.offset) >= 1);
    }, 'the first request committed');
    await admin.disconnect();
    proxy.cut(); // the first instance is gone as a SIGKILL leaves it: no LeaveGroup
    const second = serviceOn(brokersFromEnv());
    const starting = second.start();
    const answer = client.call(service, 'echo', [2], { timeoutMs: 20_000 }).catch((error: unknown) => error);
    await starting;
    await expect(answer).resolves.toBe(2);
    await client.close();
    await second.stop({ timeoutMs: 5_000 });
    proxy.restore();
    await first.stop({ timeoutMs: 5_000 });
  }, 90_000);
});
