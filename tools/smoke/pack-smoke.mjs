#!/usr/bin/env node
// Packs the named workspace packages, installs the tarballs into an empty project (third-party
// dependencies from the npm cache, or the registry when the cache lacks them; no
// other workspace package), and runs the example marked `<!-- smoke -->` in the first package's README:
// a js block with node, or an sh block with /bin/sh -e, the installed packages' bins (and this Node.js)
// first on PATH.
// Usage: node tools/smoke/pack-smoke.mjs <package-dir> [more package dirs...] --expect "text"
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

const args = process.argv.slice(2);
const expectIndex = args.indexOf('--expect');
const expected = expectIndex >= 0 ? args[expectIndex + 1] : undefined;
const packageDirs = (expectIndex >= 0 ? args.slice(0, expectIndex) : args).map((dir) => resolve(dir));
if (packageDirs.length === 0 || !expected) {
  console.error('usage: pack-smoke.mjs <package-dir>... --expect "text"');
  process.exit(2);
}

const readme = readFileSync(join(packageDirs[0], 'README.md'), 'utf8');
const match = /<!-- smoke -->\s*```(js|javascript|sh)\n([\s\S]*?)```/.exec(readme);
if (!match) throw new Error(`${packageDirs[0]}/README.md has no <!-- smoke --> js or sh example`);
const [, language, example] = match;

const project = mkdtempSync(join(tmpdir(), 'micro-framework-smoke-'));
try {
  const tarballs = packageDirs.map((dir) => {
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: dir, encoding: 'utf8' });
    return join(project, out.trim().split('\n').pop());
  });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'smoke', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], { cwd: project, stdio: 'inherit' });
  const installed = readdirSync(join(project, 'node_modules', '@micro-framework'));
  const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  let command = process.execPath;
  let commandArgs = ['example.mjs'];
  if (language === 'sh') {
    writeFileSync(join(project, 'example.sh'), example);
    env.PATH = [join(project, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH].join(delimiter);
    command = '/bin/sh';
    commandArgs = ['-e', 'example.sh'];
  } else writeFileSync(join(project, 'example.mjs'), example);
  const output = execFileSync(command, commandArgs, { cwd: project, encoding: 'utf8', timeout: 60_000, env });
  process.stdout.write(output);
  if (!output.includes(expected)) throw new Error(`the README example did not print ${JSON.stringify(expected)}`);
  console.log(`smoke: ${installed.map((name) => `@micro-framework/${name}`).join(' + ')} from tarballs ran the README example`);
} finally {
  rmSync(project, { recursive: true, force: true });
}
