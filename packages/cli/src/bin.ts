#!/usr/bin/env node
import { main } from './program.ts';

// kafkajs sets timers with negative durations on Node 24 (its issue 1751): harmless, and not the
// user's concern. Every other warning is printed as Node would.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

// Exits with the command's code once it is done (a broker client may keep timers or sockets open).
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`micro-framework: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
