#!/usr/bin/env node
// Local single-node Kafka (KRaft) from Apache's jars on Maven Central, for development and CI.
//   node tools/kafka/kafka.mjs start     fetch jars if needed, format storage once, start, wait until it answers
//                                       (does nothing when a broker already answers at KAFKA_BROKERS)
//   node tools/kafka/kafka.mjs stop      stop the broker this script started
//   node tools/kafka/kafka.mjs restart   stop, then start on the same storage
// Settings: KAFKA_BROKERS (default 127.0.0.1:9092), KAFKA_HEAP (default 768m), KAFKA_DATA_DIR (default
// tools/kafka/data: storage, server.properties, kafka.log and the pid file). A second broker (the chaos
// runs' own, say) takes another KAFKA_BROKERS port and its own KAFKA_DATA_DIR; stop and restart act on
// the broker whose pid file is in KAFKA_DATA_DIR, so give them the same settings as start.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const libDir = join(here, 'lib');
const dataDir = process.env.KAFKA_DATA_DIR || join(here, 'data');
const pidFile = join(dataDir, 'kafka.pid');
const [host, portText] = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')[0].split(':');
const port = Number(portText ?? 9092);
const ports = { PORT: port, CONTROLLER_PORT: port + 1, PROXIED_PORT: port + 2, PROXY_PORT: port + 3, SASL_PORT: port + 4 };
/** The password of user `svc` on the SASL listener: a test secret, known to the tests (KAFKA_SASL_PASSWORD). */
const saslPassword = process.env.KAFKA_SASL_PASSWORD ?? 'kafka-test-secret-5b1e9c';

const log = (text) => console.log(`[kafka] ${text}`);

function answers(p) {
  return new Promise((resolve) => {
    const socket = createConnection(p, host);
    socket.setTimeout(1_000, () => { socket.destroy(); resolve(false); });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

function fetchJars() {
  if (existsSync(libDir) && readdirSync(libDir).some((name) => name.startsWith('kafka_2.13-'))) return;
  log('fetching Apache Kafka jars from Maven Central (mvn dependency:copy-dependencies)');
  execFileSync('mvn', ['-q', '-B', '-f', join(here, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`, '-DincludeScope=runtime'], { stdio: 'inherit' });
}

function java(args, options = {}) {
  return ['-cp', `${libDir}/*`, `-Dlog4j.configuration=file:${join(here, 'log4j.properties')}`, ...args];
}

function writeConfig() {
  mkdirSync(dataDir, { recursive: true });
  let text = readFileSync(join(here, 'server.properties.template'), 'utf8');
  for (const [name, value] of Object.entries({ ...ports, DATA_DIR: dataDir, SASL_PASSWORD: saslPassword })) text = text.replaceAll(`\${${name}}`, String(value));
  const file = join(dataDir, 'server.properties');
  writeFileSync(file, text);
  return file;
}

function formatOnce(config) {
  if (existsSync(join(dataDir, 'logs', 'meta.properties'))) return;
  const clusterId = randomBytes(16).toString('base64url');
  log(`formatting storage (cluster ${clusterId})`);
  // `--cluster-id=<id>`: a random id may begin with '-', which the tool would read as an option.
  execFileSync('java', java(['kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', config]), { stdio: 'inherit' });
}

async function waitUntil(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function ready() {
  // Listening is not enough: wait until the broker serves metadata (the controller elected itself).
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: [`${host}:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function start() {
  if (await answers(port)) {
    log(`a broker already answers at ${host}:${port}; nothing to start`);
    if (!(await answers(ports.SASL_PORT))) log(`warning: it has no SASL listener on ${ports.SASL_PORT} (started from an older config): the SASL tests will fail until it restarts`);
    return;
  }
  fetchJars();
  const config = writeConfig();
  formatOnce(config);
  const out = openSync(join(dataDir, 'kafka.log'), 'a');
  const child = spawn('java', [`-Xms256m`, `-Xmx${process.env.KAFKA_HEAP ?? '768m'}`, ...java(['kafka.Kafka', config])], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  log(`started (pid ${child.pid}, log ${join(dataDir, 'kafka.log')}); waiting for it to answer`);
  await waitUntil(ready, `the broker at ${host}:${port}`, 120_000);
  log(`ready at ${host}:${port}`);
}

async function stop({ strict = false } = {}) {
  if (!existsSync(pidFile)) {
    if (strict && (await answers(port))) {
      throw new Error(`the broker at ${host}:${port} was not started by this script (no ${pidFile}): cannot restart it`);
    }
    log('no broker started by this script');
    return;
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    rmSync(pidFile, { force: true });
    return;
  }
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  try {
    await waitUntil(() => !alive(), `broker pid ${pid} to exit`, 60_000);
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
  await waitUntil(async () => !(await answers(port)), 'the port to close', 30_000);
  log('stopped');
}

const command = process.argv[2] ?? 'start';
if (command === 'start') await start();
else if (command === 'stop') await stop();
else if (command === 'restart') {
  await stop({ strict: true });
  await start();
} else {
  console.error('usage: kafka.mjs start|stop|restart');
  process.exit(2);
}
