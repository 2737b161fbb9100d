import { readFileSync } from 'node:fs';
import { ConfigurationError } from './errors.ts';

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

/**
 * A credential (password, token, nkey seed, private key, passphrase) that shows as `***` wherever a
 * value is printed: String(), template strings, JSON.stringify, util.inspect and console.log. Only
 * `reveal()` gives the value, and only an adapter calls it, when it hands the value to its client.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    if (typeof value !== 'string') throw new ConfigurationError('a Secret holds a string');
    this.#value = value;
  }

  /** A secret from the environment; ConfigurationError (naming the variable, never a value) when unset or empty. */
  static fromEnv(name: string): Secret {
    const value = process.env[name];
    if (value === undefined || value === '') throw new ConfigurationError(`environment variable ${name} is not set`);
    return new Secret(value);
  }

  /** A secret read from a file (a mounted Kubernetes secret, say), without its trailing newline. */
  static fromFile(path: string): Secret {
    try {
      return new Secret(readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
    } catch (error) {
      throw new ConfigurationError(`cannot read secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }

  /** The value itself: for the client that needs it, never for a log line. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [inspectSymbol](): string {
    return 'Secret(***)';
  }
}

/** A credential given as a plain string or wrapped (prefer wrapped: a plain string prints as itself). */
export type SecretValue = string | Secret;

/** Wraps `value` in a Secret. */
export function secret(value: string): Secret {
  return new Secret(value);
}

/** The value of a plain or wrapped credential (undefined stays undefined). */
export function revealSecret(value: SecretValue): string;
export function revealSecret(value: SecretValue | undefined): string | undefined;
export function revealSecret(value: SecretValue | undefined): string | undefined {
  return value instanceof Secret ? value.reveal() : value;
}

/** Wraps a plain credential (a Secret stays itself), so that what holds it prints `***`. */
export function asSecret(value: SecretValue): Secret;
export function asSecret(value: SecretValue | undefined): Secret | undefined;
export function asSecret(value: SecretValue | undefined): Secret | undefined {
  return value === undefined || value instanceof Secret ? value : new Secret(value);
}
