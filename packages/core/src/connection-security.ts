import { ConfigurationError, MicroFrameworkError } from './errors.ts';

/**
 * The TLS handshake with a broker failed: its certificate is not trusted or does not name the host,
 * the client certificate was refused, or the protocols did not agree. Not retried at start: a
 * service with a wrong CA fails to start with this error instead of retrying forever.
 */
export class TlsHandshakeFailed extends MicroFrameworkError {
  /** Node's or OpenSSL's code (SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID...), when there is one. */
  readonly code: string | undefined;

  constructor(broker: string, address: string, reason: string, options: { cause?: unknown; code?: string } = {}) {
    super(`${broker} at ${address}: TLS handshake failed: ${reason}`, { cause: options.cause, retryable: false });
    this.code = options.code;
  }
}

/** A broker refused the service's credentials. The message names the user, never the secret. Not retried at start. */
export class AuthenticationFailed extends MicroFrameworkError {
  constructor(broker: string, address: string, detail: string, options: { cause?: unknown } = {}) {
    super(`${broker} at ${address} refused the credentials${detail ? ` (${detail})` : ''}`, { cause: options.cause, retryable: false });
  }
}

/**
 * Credentials would cross a plaintext connection, or TLS that does not verify the server
 * (`rejectUnauthorized: false`: anyone in the middle can read them), to a host beyond loopback; set
 * `allowInsecure: true` to accept that.
 */
export class InsecureCredentials extends ConfigurationError {
  constructor(broker: string, address: string, what: string) {
    super(`${broker} at ${address}: refusing to send ${what} over a plaintext connection or TLS that does not verify the server; use verified TLS, or set allowInsecure: true to accept it`);
  }
}

/** Whether `tls` (resolved or as configured) verifies the server: given, and rejectUnauthorized not false. */
export function verifiesServer(tls: { readonly rejectUnauthorized?: boolean | undefined } | undefined): boolean {
  return tls !== undefined && tls.rejectUnauthorized !== false;
}

/** True for 127.0.0.0/8, ::1 and localhost: a plaintext connection there never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || bare === '::ffff:127.0.0.1';
}

/**
 * Throws InsecureCredentials when `what` (a password, a token...) would go to any host beyond
 * loopback without TLS that verifies the server (`tls`: see verifiesServer) and the user did not set
 * allowInsecure.
 */
export function refuseInsecureCredentials(check: {
  readonly broker: string;
  readonly hosts: readonly string[];
  readonly tls: boolean;
  readonly what: string | undefined;
  readonly allowInsecure: boolean | undefined;
}): void {
  if (check.what === undefined || check.tls || check.allowInsecure === true) return;
  const remote = check.hosts.find((host) => !isLoopbackHost(host));
  if (remote !== undefined) throw new InsecureCredentials(check.broker, remote, check.what);
}

/** Codes of a failed TLS verification or handshake (Node's ERR_TLS_*, ERR_SSL_*, OpenSSL's verify results). */
const tlsCodes = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|ERR_OSSL_)/;

/** The TLS code of `error` or of one of its causes, or undefined when it is no TLS failure. */
export function tlsFailureCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth += 1) {
    const { code, library, cause } = current as { code?: unknown; library?: unknown; cause?: unknown };
    if (typeof code === 'string' && tlsCodes.test(code)) return code;
    if (library === 'SSL routines') return typeof code === 'string' ? code : 'SSL';
    current = cause;
  }
  return undefined;
}

/** `error` as TlsHandshakeFailed when it is a TLS failure (itself or a cause), else undefined. */
export function asTlsHandshakeFailed(error: unknown, broker: string, address: string): TlsHandshakeFailed | undefined {
  if (error instanceof TlsHandshakeFailed) return error;
  const code = tlsFailureCode(error);
  if (code === undefined) return undefined;
  const message = error instanceof Error ? error.message : String(error);
  return new TlsHandshakeFailed(broker, address, message, { cause: error, code });
}
