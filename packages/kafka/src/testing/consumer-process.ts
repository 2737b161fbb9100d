// A consumer in a child process for the "consumer killed" scenario: it consumes the topic listener
// of the spec given as JSON in argv[2], prints HANDLING when its target starts, and never finishes.
import { Route, Runner } from '@micro-framework/core';
import { TopicListener } from '../topic-listener.ts';
import { conformancePartitions, conformanceSessionTimeoutMs, conformanceTopic } from './conformance-names.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as { channel: string; serviceName: string; brokers: string[] };
const handle = (): Promise<void> => {
  process.stdout.write('HANDLING\n');
  return new Promise<void>(() => undefined);
};
const runner = new Runner({
  config: { serviceName: spec.serviceName, maxWorkers: 1, kafka: { brokers: spec.brokers } },
  contexts: [{
    routes: [new Route({
      target: handle,
      entrypoint: new TopicListener({ topic: conformanceTopic(spec.channel), partitions: conformancePartitions, sessionTimeoutMs: conformanceSessionTimeoutMs }),
    })],
  }],
});
await runner.start();
process.stdout.write('READY\n');
