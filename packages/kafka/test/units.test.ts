import { describe, expect, it } from 'vitest';
import { ContiguousOffsets, defaultGroupId, deadLetterTopicName, headersFromKafka, retryTopicName } from '../src/index.ts';

describe('ContiguousOffsets', () => {
  it('commits only past the contiguous prefix of finished offsets', () => {
    const offsets = new ContiguousOffsets();
    for (const offset of ['10', '11', '12', '13']) offsets.track(offset);
    expect(offsets.finish('11')).toBeUndefined();
    expect(offsets.finish('13')).toBeUndefined();
    expect(offsets.firstPending).toBe('10');
    expect(offsets.finish('10')).toBe('12');
    expect(offsets.firstPending).toBe('12');
    expect(offsets.finish('12')).toBe('14');
    expect(offsets.pendingCount).toBe(0);
  });
});

describe('names and headers', () => {
  it('name groups like RabbitMQ queues, and retry/dead-letter topics after the group', () => {
    const group = defaultGroupId('orders', 'billing', 'charge');
    expect(group).toBe('orders__billing.charge');
    expect(retryTopicName(group)).toBe('orders__billing.charge.retry');
    expect(deadLetterTopicName(group)).toBe('orders__billing.charge.dlt');
  });

  it('read Kafka headers as UTF-8 strings, last value of a repeated header', () => {
    expect(headersFromKafka({ a: Buffer.from('é'), b: 'x', c: [Buffer.from('1'), Buffer.from('2')], d: undefined })).toEqual({ a: 'é', b: 'x', c: '2' });
  });
});
