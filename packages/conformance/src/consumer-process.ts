import { spawn } from 'node:child_process';
import type { ConsumerProcess } from '@micro-framework/core/testing';

/**
 * Runs an adapter's consumer script in a child process (Node with the workspace's source condition)
 * with `argument` as argv[2]. Resolves once the script printed READY (it consumes); `handling`
 * resolves when it prints HANDLING (its target started); `kill()` sends SIGKILL and waits for the exit.
 */
export async function spawnConsumerScript(script: string, argument: unknown): Promise<ConsumerProcess> {
  const child = spawn(process.execPath, ['--conditions=@micro-framework/source', script, JSON.stringify(argument)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const printed = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (output.includes(text)) resolve();
      };
      child.stdout.on('data', check);
      child.once('exit', (code) => reject(new Error(`consumer process exited (${code}) before printing ${text}`)));
      check();
    });
  const handling = printed('HANDLING');
  handling.catch(() => undefined);
  await printed('READY');
  return {
    handling,
    async kill() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
