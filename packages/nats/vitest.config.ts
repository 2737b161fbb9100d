import { mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The suites share nats-server processes and restart one of them: run files one at a time.
export default mergeConfig(sharedTestConfig, { test: { fileParallelism: false } });
