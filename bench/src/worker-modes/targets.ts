// The targets of the worker-mode bench, imported by URL in worker threads and child processes (so
// they import nothing of the framework). `hash` does CPU work for about `ms` (SHA-256 rounds, fixed
// per message so every mode does the same work); `noop` does nothing.
import { createHash } from 'node:crypto';

export function hash(payload: { rounds: number }): number {
  let digest = Buffer.alloc(32);
  for (let i = 0; i < payload.rounds; i += 1) digest = createHash('sha256').update(digest).digest();
  return digest[0] ?? 0;
}

export function noop(): void {}
