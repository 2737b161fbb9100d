import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const benchDir = fileURLToPath(new URL('..', import.meta.url));
let built: Promise<void> | undefined;

/**
 * The path of a probe process compiled to JavaScript, run without the source condition: the memory
 * and sustained cases measure our service as it is deployed (the packages' built JavaScript, one
 * adapter loaded), not Node's type stripping, which adds about 30 MiB to a process that runs
 * TypeScript sources. Builds the four runtime packages and compiles the probes once per bench run.
 */
export async function compiledProbe(name: 'memory-probe' | 'sustained-probe'): Promise<string> {
  built ??= (async () => {
    const nx = require.resolve('nx/bin/nx.js');
    const tsc = require.resolve('typescript/bin/tsc');
    const projects = ['core', 'amqp', 'nats', 'kafka'].map((p) => `@micro-framework/${p}`).join(',');
    await run(process.execPath, [nx, 'run-many', '-t', 'build', `--projects=${projects}`, '--output-style=static'], { cwd: benchDir, maxBuffer: 16 << 20 });
    await run(process.execPath, [tsc, '-p', 'tsconfig.probes.json'], { cwd: benchDir, maxBuffer: 16 << 20 });
  })();
  await built;
  return fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url));
}
