// A consumer in a child process for the "consumer killed" scenario: it consumes the JetStream
// listener of the spec given as JSON in argv[2], prints HANDLING when its target starts, never finishes.
import { Route, Runner } from '@micro-framework/core';
import { JetStreamListener } from '../jetstream-listener.ts';
import { conformanceAckWaitMs, conformanceStream, conformanceSubject } from './conformance-names.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as { channel: string; serviceName: string; url: string };
const handle = (): Promise<void> => {
  process.stdout.write('HANDLING\n');
  return new Promise<void>(() => undefined);
};
const runner = new Runner({
  config: { serviceName: spec.serviceName, maxWorkers: 1, nats: { servers: spec.url } },
  contexts: [{
    routes: [new Route({
      target: handle,
      entrypoint: new JetStreamListener({ stream: conformanceStream, subjects: [conformanceSubject(spec.channel)], ackWaitMs: conformanceAckWaitMs }),
    })],
  }],
});
await runner.start();
process.stdout.write('READY\n');
