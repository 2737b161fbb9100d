#!/usr/bin/env node
// Makes sure the Python peer of the interop tests can run: Debian's python3 with python3-kombu (PyPI is
// out of reach here). When `import kombu` fails, installs the package with apt-get (as root, or
// through sudo), the way tools/kafka fetches Kafka. MICRO_FRAMEWORK_PYTHON names another interpreter.
import { spawnSync } from 'node:child_process';

const python = process.env.MICRO_FRAMEWORK_PYTHON ?? '/usr/bin/python3';
const hasKombu = () => spawnSync(python, ['-c', 'import kombu'], { stdio: 'ignore' }).status === 0;

if (hasKombu()) process.exit(0);
if (process.env.MICRO_FRAMEWORK_PYTHON) {
  console.error(`[python-peer] ${python} cannot import kombu; install it for that interpreter`);
  process.exit(1);
}
console.log('[python-peer] python3-kombu is missing: apt-get install python3-kombu');
const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
const apt = (...args) => {
  const [command, ...rest] = [...asRoot, 'apt-get', ...args];
  return spawnSync(command, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status;
};
if (apt('update', '-qq') !== 0 || apt('install', '-y', '-qq', 'python3-kombu') !== 0 || !hasKombu()) {
  console.error('[python-peer] could not install python3-kombu (apt-get install python3-kombu, as root)');
  process.exit(1);
}
console.log('[python-peer] python3-kombu installed');
