import { mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The tests run the built bin against the real brokers, one file at a time, after the amqp and kafka
// suites (package.json: their conformance restarts RabbitMQ and Kafka).
export default mergeConfig(sharedTestConfig, { test: { fileParallelism: false } });
