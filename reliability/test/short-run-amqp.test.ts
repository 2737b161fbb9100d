import { it } from 'vitest';
import { shortRunHolds, shortRunTimeoutMs } from './short-run.ts';

// The CI short run of issue #13 on RabbitMQ, on a node of the run's own (RabbitTestNode: own node name, ports and data directory), so the machine's RabbitMQ on 5672 is never restarted nor cut.
it('short chaos run on RabbitMQ: nothing lost, no RPC call hung', () => shortRunHolds('amqp', { orderJudged: false }), shortRunTimeoutMs);
