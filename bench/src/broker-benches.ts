import type { BrokerBench } from './case.ts';
import { amqpBench } from './contestants/amqp.ts';
import { kafkaBench } from './contestants/kafka.ts';
import { natsBench } from './contestants/nats.ts';
import type { PeersModule } from './peer-context.ts';

/** The bench of each broker, by the name the command line takes. */
export const brokerBenches: Readonly<Record<string, (inFlight: number) => Promise<BrokerBench>>> = { amqp: amqpBench, nats: natsBench, kafka: kafkaBench };

/** bench/peers (NestJS and Moleculer contestants); throws saying how to install it when it is not. */
export async function loadPeers(): Promise<PeersModule> {
  try {
    // A computed specifier: bench/peers is type-checked on its own (peers/tsconfig.json), with its own node_modules.
    const specifier = new URL('../peers/src/peers.ts', import.meta.url).href;
    return (await import(specifier)) as PeersModule;
  } catch (error) {
    throw new Error('bench/peers is not installed: run `node bench/peers/install.ts` (npm run bench does), or pass --without-peers', { cause: error });
  }
}
