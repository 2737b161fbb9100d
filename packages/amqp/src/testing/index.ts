export { amqpConformanceAdapter } from './amqp-conformance-adapter.ts';
export { conformanceQueueArguments, conformanceSourceService } from './conformance-names.ts';
export { RabbitTestNode, type RabbitTestNodeOptions } from './rabbitmq-test-node.ts';
