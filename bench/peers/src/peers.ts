import { readFileSync } from 'node:fs';
import type { PeerContestants, PeerContext, PeersModule } from '../../src/peer-context.ts';
import { moleculerContestants } from './moleculer-contestants.ts';
import { nestContestants } from './nest-contestants.ts';

/** NestJS microservices and Moleculer contestants for one broker. */
export const peerContestants: PeersModule['peerContestants'] = (broker, context: PeerContext): PeerContestants => {
  const nest = nestContestants(broker, context);
  const molecular = moleculerContestants(broker, context);
  return {
    drains: [...nest.drains, ...molecular.drains],
    rpc: [...nest.rpc, ...molecular.rpc],
    failureCost: [...nest.failureCost, ...molecular.failureCost],
    unsupported: [...nest.unsupported, ...molecular.unsupported],
  };
};

const peerPackages = ['@nestjs/microservices', 'amqp-connection-manager', 'moleculer', '@moleculer/channels', 'amqplib', 'nats', 'kafkajs', '@platformatic/kafka'];

export const peerVersions: PeersModule['peerVersions'] = () =>
  peerPackages
    .map((name) => {
      const manifest = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string };
      return `${name} ${manifest.version}`;
    })
    .join(', ');
