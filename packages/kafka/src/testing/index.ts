export { kafkaConformanceAdapter } from './kafka-conformance-adapter.ts';
export { conformancePartitions, conformanceSessionTimeoutMs, conformanceTopic } from './conformance-names.ts';
