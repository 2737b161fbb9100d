import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from './errors.ts';
import { revealSecret, type SecretValue } from './secret.ts';

type Pem = string | Uint8Array;

/**
 * TLS towards a broker, the same in every adapter. PEM values inline or as file paths (read at each
 * connection, so a renewed certificate is picked up on reconnect). The server's certificate is
 * verified against `ca` (default: Node's trusted roots) and its name unless `rejectUnauthorized` is
 * set to false explicitly.
 */
export interface TlsOptions {
  /** Certificate authorities to trust (PEM). */
  readonly ca?: Pem | readonly Pem[];
  /** Files holding them. */
  readonly caFile?: string | readonly string[];
  /** Client certificate (PEM), for brokers that require one (RabbitMQ EXTERNAL, NATS verify, Kafka mTLS). */
  readonly cert?: Pem;
  readonly certFile?: string;
  /** Client private key (PEM). */
  readonly key?: SecretValue;
  readonly keyFile?: string;
  /** Passphrase of an encrypted private key. */
  readonly passphrase?: SecretValue;
  /** Name to verify the server's certificate against (SNI); default the host connected to. */
  readonly servername?: string;
  /** Verify the server's certificate. Default true; false only when said explicitly. */
  readonly rejectUnauthorized?: boolean;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigurationError(`tls.${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

const keys = new Set(['ca', 'caFile', 'cert', 'certFile', 'key', 'keyFile', 'passphrase', 'servername', 'rejectUnauthorized']);

/**
 * Node's TLS connection options for `options`: files read, secrets revealed, rejectUnauthorized
 * true unless false was given. Throws ConfigurationError for an unknown key (a typo must not turn
 * verification off silently), an inline value given twice, or a file that cannot be read.
 */
export async function resolveTls(options: TlsOptions): Promise<ConnectionOptions> {
  for (const key of Object.keys(options)) if (!keys.has(key)) throw new ConfigurationError(`tls: unknown option "${key}"`);
  if (options.rejectUnauthorized !== undefined && typeof options.rejectUnauthorized !== 'boolean') {
    throw new ConfigurationError('tls.rejectUnauthorized must be a boolean');
  }
  const both = (inline: unknown, file: unknown, name: string): void => {
    if (inline !== undefined && file !== undefined) throw new ConfigurationError(`tls: give ${name} or ${name}File, not both`);
  };
  both(options.ca, options.caFile, 'ca');
  both(options.cert, options.certFile, 'cert');
  both(options.key, options.keyFile, 'key');
  const resolved: ConnectionOptions = { rejectUnauthorized: options.rejectUnauthorized !== false };
  if (options.caFile !== undefined) {
    const files = typeof options.caFile === 'string' ? [options.caFile] : options.caFile;
    resolved.ca = await Promise.all(files.map((file) => readPem(file, 'caFile')));
  } else if (options.ca !== undefined) {
    resolved.ca = (Array.isArray(options.ca) ? options.ca : [options.ca]).map((pem: Pem) => (typeof pem === 'string' ? pem : Buffer.from(pem)));
  }
  if (options.certFile !== undefined) resolved.cert = await readPem(options.certFile, 'certFile');
  else if (options.cert !== undefined) resolved.cert = typeof options.cert === 'string' ? options.cert : Buffer.from(options.cert);
  if (options.keyFile !== undefined) resolved.key = await readPem(options.keyFile, 'keyFile');
  else if (options.key !== undefined) resolved.key = revealSecret(options.key);
  if (options.passphrase !== undefined) resolved.passphrase = revealSecret(options.passphrase);
  if (options.servername !== undefined) resolved.servername = options.servername;
  return resolved;
}
