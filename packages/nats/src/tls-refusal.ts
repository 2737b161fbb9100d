import { isIP, connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { tlsFailureCode } from '@micro-framework/core';

/**
 * Why a server refused the TLS session, learnt without the NATS protocol: reads the server's INFO
 * line, upgrades to TLS with `tls` and, sending nothing, waits up to `settleMs` for the server's
 * verdict on the client certificate (under TLS 1.3 it comes after the handshake, as an alert). The
 * NATS client, which writes CONNECT at once, may see only a connection reset when the server
 * closes on unread data; this probe sees the alert. Resolves with the TLS error, or undefined when
 * the session stood (or the server could not be reached: no TLS verdict).
 */
export function tlsRefusal(host: string, port: number, tls: ConnectionOptions, settleMs = 1_000): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let socket: Socket = connectTcp(port, host);
    let settled = false;
    const done = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(error !== undefined && tlsFailureCode(error) !== undefined ? error : undefined);
    };
    const timer = setTimeout(() => done(undefined), settleMs + 5_000);
    timer.unref();
    let info = '';
    const unreached = (): void => done(undefined);
    const onInfo = (chunk: Buffer): void => {
      info += chunk.toString('latin1');
      if (!info.includes('\r\n')) return;
      socket.off('data', onInfo).off('error', unreached).off('close', unreached);
      const secured = connectTls({ ...tls, socket, ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}) });
      socket = secured;
      secured.once('secureConnect', () => {
        setTimeout(() => done(undefined), settleMs).unref();
      });
      secured.on('error', (error: Error) => done(error));
      secured.once('close', () => done(undefined));
      secured.on('data', () => undefined);
    };
    socket.on('data', onInfo).once('error', unreached).once('close', unreached);
  });
}
