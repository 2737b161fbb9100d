import { mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// One Kafka broker serves every file, and the conformance suite restarts it: run files one at a time.
export default mergeConfig(sharedTestConfig, { test: { fileParallelism: false } });
