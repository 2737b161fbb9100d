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
// Ports from PORT (KAFKA_BROKERS): PORT plaintext, +1 controller, +2 proxied, +3 the proxy's (advertised),
// +4 SASL_PLAINTEXT (PLAIN, user svc, KAFKA_SASL_PASSWORD), advertised at KAFKA_SASL_ADVERTISED_HOST when set
// (tests of brokers learned from metadata; it still listens on 127.0.0.1 only).
// TLS, only when KAFKA_TLS_DIR names a directory with ca.pem, server.pem and server-key.pem (PKCS#8, not
// encrypted): +5 SSL, which requires a client certificate signed by ca.pem (mutual TLS), and +6 SASL_SSL
// with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for user svc (password KAFKA_TLS_SASL_PASSWORD; the SCRAM
// credentials are written when the storage is formatted, so format with KAFKA_TLS_DIR set) and
// OAUTHBEARER checked by Kafka's unsecured validator (unsigned tokens: for tests only). Without
// KAFKA_TLS_DIR the broker has neither listener and the storage no SCRAM users.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
/** Where the TLS listeners' certificates are (unset: no TLS listeners), and their ports. */
const tlsDir = process.env.KAFKA_TLS_DIR || undefined;
const tlsPorts = { SSL_PORT: port + 5, SASL_SSL_PORT: port + 6 };
/**
 * The password of user `svc` on the SASL_SSL listener (PLAIN and SCRAM): a test secret with `/`, `@` and
 * `%` in it, which must never be mistaken for URL syntax (KAFKA_TLS_SASL_PASSWORD).
 */
const tlsSaslPassword = process.env.KAFKA_TLS_SASL_PASSWORD ?? 'tls/s3cret@kafka%41-7d2e';
/** Marks storage formatted with the SCRAM users of the SASL_SSL listener. */
const scramMarker = join(dataDir, 'scram-users');

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

/**
 * The SSL and SASL_SSL listeners' settings, from the certificates in KAFKA_TLS_DIR (copied into the data
 * directory at each start, the key and certificate as one PEM key store): empty values without it.
 */
function tlsConfig() {
  if (!tlsDir) return { TLS_LISTENERS: '', TLS_PROTOCOLS: '', TLS_SETTINGS: '' };
  // These characters would end the value in the JAAS line or in StorageTool's --add-scram syntax.
  if (/["\\,=\[\]\s]/.test(tlsSaslPassword)) throw new Error('KAFKA_TLS_SASL_PASSWORD may not contain quotes, backslashes, commas, =, brackets or spaces');
  const read = (name) => {
    try {
      return readFileSync(join(tlsDir, name), 'utf8');
    } catch (error) {
      throw new Error(`KAFKA_TLS_DIR: cannot read ${join(tlsDir, name)} (${error.code ?? error})`);
    }
  };
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true });
  const keyStore = join(dir, 'server-keystore.pem');
  const trustStore = join(dir, 'ca.pem');
  writeFileSync(keyStore, `${read('server-key.pem').trim()}\n${read('server.pem').trim()}\n`, { mode: 0o600 });
  writeFileSync(trustStore, read('ca.pem'));
  const settings = [
    '# TLS (KAFKA_TLS_DIR). SSL: mutual TLS, a client certificate signed by the CA required. SASL_SSL: user svc with',
    '# PLAIN and SCRAM (credentials written at format), and OAUTHBEARER with unsigned tokens (Kafka\'s unsecured validator).',
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${keyStore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${trustStore}`,
    'listener.name.ssl.ssl.client.auth=required',
    'listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_svc="${tlsSaslPassword}";`,
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";',
  ];
  return {
    TLS_LISTENERS: `,SSL://127.0.0.1:${tlsPorts.SSL_PORT},SASL_SSL://127.0.0.1:${tlsPorts.SASL_SSL_PORT}`,
    TLS_PROTOCOLS: ',SSL:SSL,SASL_SSL:SASL_SSL',
    TLS_SETTINGS: settings.join('\n'),
  };
}

function writeConfig() {
  mkdirSync(dataDir, { recursive: true });
  let text = readFileSync(join(here, 'server.properties.template'), 'utf8');
  const tls = tlsConfig();
  if (!tls.TLS_SETTINGS) text = text.replace('${TLS_SETTINGS}\n', '');
  for (const [name, value] of Object.entries({ ...ports, DATA_DIR: dataDir, SASL_PASSWORD: saslPassword, ...tls })) text = text.replaceAll(`\${${name}}`, String(value));
  // Tests of brokers learned from metadata: the SASL listener advertised at another address of this machine.
  const advertised = process.env.KAFKA_SASL_ADVERTISED_HOST;
  if (advertised) text = text.replace(/^(advertised\.listeners=.*)SASL:\/\/127\.0\.0\.1:/m, `$1SASL://${advertised}:`);
  // It holds the SASL passwords (JAAS lines): readable by its owner only.
  const file = join(dataDir, 'server.properties');
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

function formatOnce(config) {
  if (existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    if (tlsDir && !existsSync(scramMarker)) log(`warning: the storage in ${dataDir} was formatted without KAFKA_TLS_DIR: it has no SCRAM users, SCRAM logins will be refused`);
    return;
  }
  const clusterId = randomBytes(16).toString('base64url');
  log(`formatting storage (cluster ${clusterId})`);
  // SCRAM credentials live in the cluster metadata: with TLS listeners, user svc gets them here.
  const scram = tlsDir
    ? ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((mechanism) => ['--add-scram', `${mechanism}=[name=svc,password=${tlsSaslPassword}]`])
    : [];
  // `--cluster-id=<id>`: a random id may begin with '-', which the tool would read as an option.
  // The tool's arguments go in a java @argfile readable by its owner only and removed afterwards:
  // on the command line the SCRAM password would be readable by anyone in /proc/<pid>/cmdline.
  const argFile = join(dataDir, `format-${process.pid}.args`);
  const quoted = (arg) => `"${arg}"`; // the password is checked above: no quotes, backslashes or spaces
  writeFileSync(argFile, `${['kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', config, ...scram].map(quoted).join('\n')}\n`, { mode: 0o600 });
  try {
    execFileSync('java', [...java([]), `@${argFile}`], { stdio: 'inherit' });
  } catch (error) {
    // Not the command line: it names the argument file only, but say nothing of the arguments anyway.
    throw new Error(`formatting the storage failed (exit ${error.status ?? error.signal ?? 'unknown'}); see the output above`);
  } finally {
    rmSync(argFile, { force: true });
  }
  if (tlsDir) writeFileSync(scramMarker, 'svc\n');
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
    if (tlsDir && !(await answers(tlsPorts.SASL_SSL_PORT))) log(`warning: it has no TLS listeners on ${tlsPorts.SSL_PORT} and ${tlsPorts.SASL_SSL_PORT} (started without KAFKA_TLS_DIR)`);
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
