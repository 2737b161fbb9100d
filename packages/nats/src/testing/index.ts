export { natsJetStreamConformanceAdapter } from './nats-conformance-adapter.ts';
export { natsCoreConformanceAdapter } from './nats-core-conformance-adapter.ts';
export { NatsTestServer, type NatsTestAuth, type NatsTestServerOptions, type NatsTestTls } from './nats-test-server.ts';
export { NatsTestOperator } from './nats-test-operator.ts';
export { conformanceAckWaitMs, conformanceStream, conformanceSubject } from './conformance-names.ts';
