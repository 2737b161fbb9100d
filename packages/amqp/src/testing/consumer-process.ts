// A consumer in a child process for the "consumer killed" scenario: it consumes the listener of the
// spec given as JSON in argv[2], prints HANDLING when its target starts, and never finishes.
import { Route, Runner } from '@micro-framework/core';
import { AmqpEventListener } from '../event-listener.ts';
import { conformanceQueueArguments, conformanceSourceService } from './conformance-names.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as { channel: string; serviceName: string; url: string };
const handle = (): Promise<void> => {
  process.stdout.write('HANDLING\n');
  return new Promise<void>(() => undefined);
};
const runner = new Runner({
  config: { serviceName: spec.serviceName, maxWorkers: 1, amqp: { url: spec.url } },
  contexts: [{
    routes: [new Route({
      target: handle,
      entrypoint: new AmqpEventListener({ sourceService: conformanceSourceService, eventName: spec.channel, queueArguments: conformanceQueueArguments, deadLetterQueueArguments: conformanceQueueArguments }),
    })],
  }],
});
await runner.start();
process.stdout.write('READY\n');
