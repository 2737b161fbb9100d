import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// Found by the worker-mode tests (issue #14): amqplib's recovering connection runs our setup before
// it listens for the new connection's errors, so a socket error during setup (ECONNRESET once
// RabbitMQ gave up on the heartbeats of a process whose event loop a CPU-bound target held) was an
// uncaught exception: the service crashed, or the half-closed connection's heartbeat failed every
// second and recovery never ran again. Run in a child process, where an uncaught error shows as what
// it is for a service: a crash.
it('a connection reset during its setup neither crashes the process nor leaks; it comes back', () => {
  const script = fileURLToPath(new URL('./fixtures/blocked-setup.ts', import.meta.url));
  const result = spawnSync(process.execPath, ['--conditions=@micro-framework/source', script], { encoding: 'utf8', timeout: 40_000, env: { ...process.env, MICRO_FRAMEWORK_LOG_LEVEL: 'error' } });
  expect({ status: result.status, stdout: result.stdout.trim().split('\n'), stderr: result.stderr.includes('Error') ? result.stderr.slice(0, 2_000) : '' }).toEqual({ status: 0, stdout: ['SETUP', 'OK'], stderr: '' });
}, 60_000);
