import { mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The tests run the built bin against the real brokers, one file at a time.
export default mergeConfig(sharedTestConfig, { test: { fileParallelism: false } });
