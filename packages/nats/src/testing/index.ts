export { natsJetStreamConformanceAdapter } from './nats-conformance-adapter.ts';
export { natsCoreConformanceAdapter } from './nats-core-conformance-adapter.ts';
export { NatsTestServer, type NatsTestAuth } from './nats-test-server.ts';
export { conformanceAckWaitMs, conformanceStream, conformanceSubject } from './conformance-names.ts';
