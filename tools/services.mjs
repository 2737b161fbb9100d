#!/usr/bin/env node
// Makes sure the brokers the tests expect on this machine answer: RabbitMQ (5672) and NATS with
// JetStream (4222). One that does not answer is started with the machine's own command, then waited
// for (polled, with a deadline). Kafka is tools/kafka/kafka.mjs's job.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

const services = [
  { name: 'RabbitMQ', port: 5672, start: ['rabbitmq-server', ['-detached']] },
  {
    name: 'NATS',
    port: 4222,
    start: ['start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/nats-server', '--', '-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log']],
  },
];

const answers = (port) =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

let failed = false;
for (const service of services) {
  if (await answers(service.port)) continue;
  const [command, args] = service.start;
  console.log(`[services] ${service.name} does not answer on ${service.port}: ${command} ${args.join(' ')}`);
  const started = spawnSync(command, args, { stdio: 'inherit' });
  if (started.error) console.error(`[services] could not run ${command}: ${started.error.message}`);
  const deadline = Date.now() + 90_000;
  while (!(await answers(service.port)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
  if (await answers(service.port)) console.log(`[services] ${service.name} answers on ${service.port}`);
  else {
    console.error(`[services] ${service.name} still does not answer on ${service.port}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
