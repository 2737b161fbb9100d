import { inMemoryConformanceAdapter } from '@micro-framework/core/testing';
import { describeConformance } from '../src/index.ts';

// Issue #14: the whole suite on the in-memory broker with every target in a worker thread
// (workerMode 'thread'): the scenarios' closures run through the harness's WorkerBridge, so each
// call's arguments, meta, result and error cross into a worker and back as they do for a user's
// workerTarget, and acks, retries, callbacks and dead letters must behave exactly as in async mode.
const adapter = inMemoryConformanceAdapter();
describeConformance({ ...adapter, name: `${adapter.name}, workerMode thread`, config: { ...adapter.config, workerMode: 'thread' } });
