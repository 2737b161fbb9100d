import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../vitest.shared.ts';

// The short chaos runs start a broker each and load two cores: one file at a time.
export default mergeConfig(sharedTestConfig, defineConfig({ test: { fileParallelism: false } }));
