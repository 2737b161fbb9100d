// Installs bench/peers from its own lockfile, apart from the workspace, unless node_modules already
// matches it. Used by the bench script and by the bench project's typecheck.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const directory = fileURLToPath(new URL('.', import.meta.url));
const lockHash = createHash('sha256').update(readFileSync(new URL('package-lock.json', import.meta.url))).digest('hex');
const marker = new URL('node_modules/.installed-lock-hash', import.meta.url);
if (existsSync(marker) && readFileSync(marker, 'utf8') === lockHash) process.exit(0);
execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: directory, stdio: 'inherit' });
writeFileSync(marker, lockHash);
