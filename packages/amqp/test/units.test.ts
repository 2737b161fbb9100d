import { describe, expect, it } from 'vitest';
import { delayTierMs, delayTierQueueName, headersFromAmqp, redactUrl } from '../src/index.ts';

describe('delay tiers', () => {
  it('round delays up to a bounded set of tiers, never below the delay asked', () => {
    expect([0, 1, 200, 201, 999, 1_000, 1_050, 9_999, 15_500, 61_000].map(delayTierMs)).toEqual([
      10, 10, 200, 210, 1_000, 1_000, 1_100, 10_000, 16_000, 70_000,
    ]);
    for (let ms = 0; ms < 100_000; ms += 37) expect(delayTierMs(ms)).toBeGreaterThanOrEqual(ms);
    expect(delayTierQueueName('q', 200)).toBe('q.retry.200ms');
  });
});

describe('headers', () => {
  it('turn AMQP table values into strings', () => {
    expect(headersFromAmqp({ s: 'x', n: 3, b: true, o: { a: [1] }, buf: Buffer.from('é'), nil: null })).toEqual({
      s: 'x', n: '3', b: 'true', o: '{"a":[1]}', buf: 'é',
    });
  });
});

describe('redactUrl', () => {
  it('never shows the password', () => {
    expect(redactUrl('amqp://user:s3cret@host:5672/vhost')).toBe('amqp://***@host:5672/vhost');
    expect(redactUrl('amqp://user:s3@cr/et@host:5672/vhost')).toBe('amqp://***@host:5672/vhost');
    expect(redactUrl('amqp://host:5672/vhost')).toBe('amqp://host:5672/vhost');
    expect(redactUrl('not a url')).toBe('<invalid url>');
  });
});
