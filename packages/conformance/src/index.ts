export { describeConformance } from './describe-conformance.ts';
export { Harness, type Call, type ListenerRouteOptions } from './harness.ts';
export { waitFor, staysQuiet, within } from './poll.ts';
export { TcpProxy } from './tcp-proxy.ts';
export { spawnConsumerScript } from './consumer-process.ts';
export type * from '@micro-framework/core/testing';
export { recordingObserver, recordingLogger, type RecordedEvent } from './scenarios/telemetry.ts';
export { secretProbe } from './secret-probe.ts';
export { testCertificates, type TestCertificates } from './test-certificates.ts';
export { attemptCounter, type AttemptCounter } from './attempt-counter.ts';
/** The module of a CPU-bound target (`burn({ ms, once })`) for worker-mode tests, to load by URL in a worker. */
export const cpuBoundTarget = new URL(`./fixtures/cpu-bound${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
