import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Route, Runner } from '@micro-framework/core';
import { secretProbe, testCertificates, waitFor, type TestCertificates } from '@micro-framework/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpEventListener, AmqpPublisher, type AmqpOptions } from '../src/index.ts';
import { RabbitTestNode } from '../src/testing/index.ts';
import { unique } from './helpers.ts';

// A node of this file's own whose server certificate is replaced by one of another CA, as a
// certificate rotation does; the service's CA file is replaced with the new CA at the same time.
let before: TestCertificates;
let after: TestCertificates;
let node: RabbitTestNode;
let serverCert = '';
let serverKey = '';
let serverCa = '';
let clientCa = '';

beforeAll(async () => {
  before = testCertificates();
  after = testCertificates();
  serverCert = join(before.dir, 'node-cert.pem');
  serverKey = join(before.dir, 'node-key.pem');
  serverCa = join(before.dir, 'node-ca.pem');
  clientCa = join(before.dir, 'service-ca.pem');
  copyFileSync(before.serverCertFile, serverCert);
  copyFileSync(before.serverKeyFile, serverKey);
  copyFileSync(before.caFile, serverCa);
  copyFileSync(before.caFile, clientCa);
  node = await RabbitTestNode.start({ tls: { caFile: serverCa, certFile: serverCert, keyFile: serverKey } });
}, 180_000);

afterAll(async () => {
  await node?.stop();
  before?.remove();
  after?.remove();
}, 120_000);

describe('a renewed CA file', () => {
  it('is read again on reconnection: the service consumes again after the node restarts with a certificate of the new CA', async () => {
    const probe = secretProbe();
    const amqp: AmqpOptions = { url: node.tlsUrl, tls: { caFile: clientCa }, publishTimeoutMs: 60_000 };
    const handled: unknown[] = [];
    const source = unique('rotation-source');
    function record(payload: unknown): void {
      handled.push(payload);
    }
    const runner = new Runner({
      config: { serviceName: unique('rotation'), amqp, logger: probe.logger },
      contexts: [{ routes: [new Route({ target: record, entrypoint: new AmqpEventListener({ sourceService: source, eventName: 'made' }) })] }],
    });
    const publisher = new AmqpPublisher({ sourceService: source, amqp });
    try {
      await runner.start();
      await publisher.publish('made', { n: 'before' });
      await waitFor(() => handled.length === 1, 'the event before the rotation');
      copyFileSync(after.serverCertFile, serverCert);
      copyFileSync(after.serverKeyFile, serverKey);
      copyFileSync(after.caFile, serverCa);
      copyFileSync(after.caFile, clientCa);
      const restored = probe.lines.filter((line) => line.includes('restored')).length;
      await node.restart();
      await waitFor(() => probe.lines.filter((line) => line.includes('restored')).length > restored, 'the service to reconnect with the new CA', 60_000);
      await publisher.publish('made', { n: 'after' });
      // The node may deliver 'before' again (its ack can be lost with the restart): at least once.
      await waitFor(() => handled.some((payload) => (payload as { n: string }).n === 'after'), 'the event after the rotation', 30_000);
      expect(new Set(handled.map((payload) => (payload as { n: string }).n))).toEqual(new Set(['before', 'after']));
    } finally {
      await publisher.close();
      await runner.stop({ timeoutMs: 5_000 });
    }
  }, 180_000);
});
