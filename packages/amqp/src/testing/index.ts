export { amqpConformanceAdapter } from './amqp-conformance-adapter.ts';
export { conformanceQueueArguments, conformanceSourceService } from './conformance-names.ts';
export { RabbitTestNode, type RabbitTestNodeOptions, type RabbitTestNodeTls } from './rabbitmq-test-node.ts';
