import { describe, expect, it } from 'vitest';
import {
  DeadLetterHeader,
  RemoteError,
  RpcTargetNotFound,
  deadLetterHeaders,
  decodeJson,
  encodeJson,
  parseRpcReply,
  parseRpcRequest,
  readRetryHeaders,
  rpcCallArguments,
  rpcErrorReply,
  rpcRequestBody,
  rpcSuccessReply,
  unwrapRpcReply,
  writeRetryHeaders,
  DecodeError,
} from '../src/index.ts';

describe('retry headers', () => {
  it('round-trip the retry state and keep user headers apart', () => {
    const state = { retryCount: 2, firstErrorTime: 10, lastRetryTime: 20, lastErrorName: 'Error', lastErrorMessage: 'é' };
    const headers = writeRetryHeaders({ user: 'x' }, state);
    expect(headers).toEqual({
      user: 'x',
      'x-retry-count': '2',
      'x-first-error-time': '10',
      'x-last-retry-time': '20',
      'x-last-error-name': 'Error',
      'x-last-error-message': 'é',
    });
    expect(readRetryHeaders(headers)).toEqual({ headers: { user: 'x' }, retry: state });
  });

  it('read a first-attempt state from missing or malformed headers', () => {
    expect(readRetryHeaders({ 'x-retry-count': 'abc' }).retry.retryCount).toBe(0);
    expect(readRetryHeaders({}).retry.retryCount).toBe(0);
  });
});

describe('dead-letter headers', () => {
  it('carry reason, channel, attempts, error and failure times', () => {
    const headers = deadLetterHeaders({ h: '1' }, {
      reason: 'exhausted',
      originalChannel: 'orders.created',
      retry: { retryCount: 3, firstErrorTime: 100 },
      error: new TypeError('bad'),
      failedAt: 400,
    });
    expect(headers).toEqual({
      h: '1',
      [DeadLetterHeader.reason]: 'exhausted',
      [DeadLetterHeader.originalChannel]: 'orders.created',
      [DeadLetterHeader.attempts]: '4',
      [DeadLetterHeader.errorName]: 'TypeError',
      [DeadLetterHeader.errorMessage]: 'bad',
      [DeadLetterHeader.firstFailureTime]: '100',
      [DeadLetterHeader.lastFailureTime]: '400',
    });
  });
});

describe('RPC wire format', () => {
  it('encodes requests and replies as the Python micro_framework does', () => {
    expect(JSON.parse(new TextDecoder().decode(encodeJson(rpcRequestBody('add', [1, 2], { c: 3 }))))).toEqual({
      command: 'add',
      command_args: [1, 2],
      command_kwargs: { c: 3 },
    });
    expect(rpcSuccessReply(undefined)).toEqual({ data: null, exception: null });
    const error = Object.assign(new RangeError('too big'), { data: { limit: 5 } });
    expect(rpcErrorReply(error)).toEqual({
      data: null,
      exception: { exception: 'RangeError', message: 'too big', args: ['too big'], kwargs: { data: { limit: 5 } }, module: null },
    });
  });

  it('passes keyword arguments as a last object argument', () => {
    expect(rpcCallArguments(rpcRequestBody('t', [1], { a: 2 }))).toEqual([1, { a: 2 }]);
    expect(rpcCallArguments(rpcRequestBody('t', [1]))).toEqual([1]);
  });

  it('unwraps replies into data or typed errors', () => {
    expect(unwrapRpcReply(parseRpcReply({ data: 5, exception: null }), 's', 't')).toBe(5);
    const remote = (() => { try { unwrapRpcReply(rpcErrorReply(Object.assign(new Error('m'), { name: 'Custom', data: 1 })), 's', 't'); } catch (e) { return e; } })();
    expect(remote).toBeInstanceOf(RemoteError);
    expect(remote).toMatchObject({ remoteName: 'Custom', remoteMessage: 'm', data: 1 });
    expect(() => unwrapRpcReply(rpcErrorReply(new RpcTargetNotFound('s', 't')), 's', 't')).toThrow(RpcTargetNotFound);
  });

  it('rejects malformed bodies with DecodeError', () => {
    expect(() => decodeJson(new Uint8Array([0xff]))).toThrow(DecodeError);
    expect(() => parseRpcRequest({ command: 1 })).toThrow(DecodeError);
    expect(() => parseRpcRequest({ command: 'x', command_args: {} })).toThrow(DecodeError);
    expect(() => parseRpcReply({ data: 1 })).toThrow(DecodeError);
    expect(parseRpcRequest({ command: 'x' })).toEqual({ command: 'x', command_args: [], command_kwargs: {} });
  });
});
