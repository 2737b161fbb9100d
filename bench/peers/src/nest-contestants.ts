import { randomUUID } from 'node:crypto';
import type { INestMicroservice } from '@nestjs/common';
import { ClientKafka, ClientNats, ClientRMQ, Transport, type MicroserviceOptions, type RmqContext } from '@nestjs/microservices';
import { Kafka, logLevel } from 'kafkajs';
import { lastValueFrom, type Observable } from 'rxjs';
import type { DrainContestant, FailureContestant, RpcContestant } from '../../src/case.ts';
import type { Counter } from '../../src/counter.ts';
import { amqpUrl, kafkaBrokers, kafkaPartitions, messageData, natsServers } from '../../src/endpoints.ts';
import { retryIntervalMs } from '../../src/failure-cost.ts';
import type { PeerContestants, PeerContext } from '../../src/peer-context.ts';
import { timedDrain } from '../../src/timed-drain.ts';
import { startNestService, type NestHandler } from './nest-service.ts';

const name = 'NestJS microservices';
/** Acks an RMQ message once its handler ran: NestJS's documented manual acknowledgement (`noAck: false`). */
const ackRmq = (context: unknown): void => {
  const rmq = context as RmqContext;
  rmq.getChannelRef().ack(rmq.getMessage());
};

/** Drains with a NestJS microservice whose one event handler counts; the elapsed time includes its start. */
function nestDrain(settings: string, options: () => MicroserviceOptions, handler: (counter: Counter) => NestHandler): DrainContestant {
  return timedDrain(name, settings, async (counter) => {
    const app = await startNestService(options(), [handler(counter)]);
    return { stop: () => app.close() };
  });
}

/**
 * The failure-cost case on NestJS's Kafka transport: an event handler's error reaches kafkajs
 * (ServerKafka propagates it), whose consumer retries the message after its retry interval.
 */
function nestKafkaFailure(): FailureContestant {
  return {
    name,
    settings: `Kafka transport, eachMessage with autoCommit, partitionsConsumedConcurrently ${kafkaPartitions}; the handler's error goes to kafkajs, whose consumer retries the message (consumer retry initialRetryTime ${retryIntervalMs} ms), holding its partition meanwhile`,
    async start(channel, ledger) {
      const app = await startNestService(
        {
          transport: Transport.KAFKA,
          options: {
            client: { brokers: kafkaBrokers, logLevel: logLevel.NOTHING },
            consumer: { groupId: `bench-nest-${randomUUID()}`, retry: { initialRetryTime: retryIntervalMs, retries: 5 } },
            subscribe: { fromBeginning: true },
            run: { partitionsConsumedConcurrently: kafkaPartitions },
          },
        },
        [{ kind: 'event', pattern: channel, handle: (data) => ledger.attempt(messageData(data).id) }],
      );
      return { stop: () => app.close() };
    },
  };
}

/** What the bench uses of a NestJS client proxy (ClientRMQ, ClientNats, ClientKafka). */
interface NestClient {
  connect(): Promise<unknown>;
  close(): unknown;
  send<Result>(pattern: string, data: unknown): Observable<Result>;
}

/** RPC through a NestJS microservice doubling its input and a NestJS client proxy. */
function nestRpc(settings: string, setup: () => Promise<{ server: MicroserviceOptions; client: () => NestClient; pattern: string; ack?: boolean }>): RpcContestant {
  let app: INestMicroservice | undefined;
  let client: NestClient | undefined;
  let pattern = '';
  const call = (value: number): Promise<unknown> => lastValueFrom(client!.send<number>(pattern, value));
  return {
    name,
    settings,
    async start() {
      const parts = await setup();
      pattern = parts.pattern;
      app = await startNestService(parts.server, [
        {
          kind: 'message',
          pattern,
          handle: (data, context) => {
            if (parts.ack) ackRmq(context);
            return (data as number) * 2;
          },
        },
      ]);
      client = parts.client();
      await client.connect();
      await call(0);
    },
    call,
    async stop() {
      await client?.close();
      await app?.close();
    },
  };
}

export function nestContestants(broker: 'amqp' | 'nats' | 'kafka', context: PeerContext): PeerContestants {
  switch (broker) {
    case 'amqp': {
      const queueOptions = { durable: true, arguments: { 'x-expires': 600_000 } };
      const socketOptions = { connectionOptions: { noDelay: true } };
      const rpcQueue = `bench-nest-rpc-${randomUUID()}`;
      const rpcQueueOptions = { durable: false, arguments: { 'x-expires': 600_000 } };
      return {
        drains: [
          nestDrain(
            `RMQ transport, noAck false (manual ack in the handler), prefetchCount ${context.inFlight}, noDelay`,
            () => ({ transport: Transport.RMQ, options: { urls: [amqpUrl], queue: context.channel(), queueOptions, noAck: false, prefetchCount: context.inFlight, socketOptions } }),
            (counter) => ({ kind: 'event', pattern: 'bench', handle: (_data, ctx) => (ackRmq(ctx), counter.hit()) }),
          ),
        ],
        rpc: [
          nestRpc('RMQ transport: server noAck false, prefetchCount 100; client direct reply-to; noDelay', async () => ({
            pattern: 'double',
            ack: true,
            server: { transport: Transport.RMQ, options: { urls: [amqpUrl], queue: rpcQueue, queueOptions: rpcQueueOptions, noAck: false, prefetchCount: 100, socketOptions } },
            client: () => new ClientRMQ({ urls: [amqpUrl], queue: rpcQueue, queueOptions: rpcQueueOptions, socketOptions }),
          })),
        ],
        failureCost: [],
        unsupported: [
          'RabbitMQ, failure cost: NestJS microservices has no retry on its RMQ transport: an event handler that throws leaves the message unacked (noAck false) until the connection closes, or lost with noAck true; a retry would be hand-written (nack, republish), which is what the raw contestant does.',
        ],
      };
    }
    case 'nats': {
      const pattern = `bench.nest.${randomUUID().slice(0, 8)}.double`;
      return {
        drains: [],
        rpc: [
          nestRpc('NATS transport (core request/reply), server queue group', async () => ({
            pattern,
            server: { transport: Transport.NATS, options: { servers: [natsServers], queue: 'bench-nest' } },
            client: () => new ClientNats({ servers: [natsServers] }),
          })),
        ],
        failureCost: [],
        unsupported: [
          'NATS JetStream, consume+ack: NestJS microservices has no JetStream transport (its NATS transport is core NATS: no stream, no acks).',
          'NATS JetStream, failure cost: NestJS microservices has no JetStream transport, so no retry on JetStream either.',
        ],
      };
    }
    case 'kafka': {
      const client = { brokers: kafkaBrokers, logLevel: logLevel.NOTHING };
      return {
        drains: [
          nestDrain(
            `Kafka transport, eachMessage with autoCommit (default), partitionsConsumedConcurrently ${kafkaPartitions}`,
            () => ({ transport: Transport.KAFKA, options: { client, consumer: { groupId: `bench-nest-${randomUUID()}` }, subscribe: { fromBeginning: true }, run: { partitionsConsumedConcurrently: kafkaPartitions } } }),
            (counter) => ({ kind: 'event', pattern: context.channel(), handle: () => counter.hit() }),
          ),
        ],
        rpc: [
          nestRpc('Kafka transport: request topic, `<topic>.reply` topic, ClientKafka.subscribeToResponseOf', async () => {
            const pattern = `bench-nest-rpc-${randomUUID()}`;
            const admin = new Kafka(client).admin();
            await admin.connect();
            await admin.createTopics({ waitForLeaders: true, topics: [{ topic: pattern }, { topic: `${pattern}.reply` }] });
            await admin.disconnect();
            return {
              pattern,
              server: { transport: Transport.KAFKA, options: { client, consumer: { groupId: `${pattern}-server` }, subscribe: { fromBeginning: true } } },
              client: () => {
                const proxy = new ClientKafka({ client, consumer: { groupId: `${pattern}-client` } });
                proxy.subscribeToResponseOf(pattern);
                return proxy;
              },
            };
          }),
        ],
        failureCost: [nestKafkaFailure()],
        unsupported: [],
      };
    }
  }
}
