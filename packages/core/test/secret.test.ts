import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, format } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, JsonLogger, Secret, asSecret, revealSecret, secret } from '../src/index.ts';

const value = 'p@ss/w%rd-3c1f9a77';

describe('Secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secret-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows *** wherever it is printed, and gives its value only to reveal()', () => {
    const config = { serviceName: 'orders', amqp: { credentials: { mechanism: 'PLAIN', username: 'svc', password: secret(value) } } };
    const renderings = [
      String(config.amqp.credentials.password),
      `${config.amqp.credentials.password}`,
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      inspect(config, { depth: 10, showHidden: true }),
      format('%s %o %O %j', config.amqp.credentials.password, config, config, config),
      Object.keys(config.amqp.credentials.password).join(','),
    ];
    for (const text of renderings) expect(text).not.toContain(value);
    expect(JSON.stringify(config)).toContain('"password":"***"');
    expect(inspect(config, { depth: 10 })).toContain('Secret(***)');
    expect(config.amqp.credentials.password.reveal()).toBe(value);
  });

  it('stays hidden in a JSON log line that carries it', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ level: 'debug', sink: (line) => void lines.push(line) });
    logger.info({ password: secret(value) }, 'connecting');
    expect(lines.join('\n')).not.toContain(value);
  });

  it('comes from the environment or a file, and names the variable or the path when it cannot', () => {
    process.env['SECRET_TEST_VALUE'] = value;
    expect(Secret.fromEnv('SECRET_TEST_VALUE').reveal()).toBe(value);
    delete process.env['SECRET_TEST_VALUE'];
    expect(() => Secret.fromEnv('SECRET_TEST_VALUE')).toThrow(/SECRET_TEST_VALUE is not set/);
    expect(() => Secret.fromEnv('SECRET_TEST_VALUE')).toThrow(ConfigurationError);
    const file = join(dir, 'password');
    writeFileSync(file, `${value}\n`);
    expect(Secret.fromFile(file).reveal()).toBe(value);
    const missing = (() => {
      try {
        Secret.fromFile(join(dir, 'missing'));
      } catch (error) {
        return error as Error;
      }
      return undefined;
    })();
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect(missing?.message).toContain('ENOENT');
  });

  it('reveals plain and wrapped values alike, and wraps a plain one once', () => {
    expect(revealSecret(value)).toBe(value);
    expect(revealSecret(secret(value))).toBe(value);
    expect(revealSecret(undefined)).toBeUndefined();
    const wrapped = secret(value);
    expect(asSecret(wrapped)).toBe(wrapped);
    expect(asSecret(value).reveal()).toBe(value);
    expect(() => new Secret(42 as unknown as string)).toThrow(ConfigurationError);
  });
});
