import { optionsDigest, type Config, type SecretValue, type TlsOptions } from '@micro-framework/core';
import type { KafkaConfig } from 'kafkajs';

/** SASL with a user name and password: PLAIN, or SCRAM (the password never crosses, only proofs of it). */
export interface KafkaPasswordSasl {
  /** Case does not matter: `plain`, `scram-sha-256`, `scram-sha-512`. */
  readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512' | 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  readonly username: string;
  /** Any characters (`/`, `@`, `%`...): it is handed to the client as it is, never through a URL. */
  readonly password: SecretValue;
}

/**
 * SASL OAUTHBEARER: `tokenProvider` is asked for a token at each authentication (each new connection,
 * and each re-authentication the broker asks for); it caches and refreshes tokens as it sees fit.
 */
export interface KafkaOauthBearerSasl {
  readonly mechanism: 'oauthbearer' | 'OAUTHBEARER';
  readonly tokenProvider: () => SecretValue | Promise<SecretValue>;
}

/** SASL credentials; kafkajs's own SASL settings (aws, a custom authenticationProvider...) still pass through as they are. */
export type KafkaSasl = KafkaPasswordSasl | KafkaOauthBearerSasl | NonNullable<KafkaConfig['sasl']>;

/** What the adapter adds to kafkajs's client settings: TLS and credentials as structured values. */
export interface KafkaSecurityOptions {
  /**
   * TLS towards every broker (CA, client certificate and key, inline or as files; see TlsOptions). The
   * brokers' certificates are verified unless `rejectUnauthorized: false` is set explicitly. Give this
   * or kafkajs's `ssl`, not both (nor with a `socketFactory` of your own).
   */
  readonly tls?: TlsOptions;
  readonly sasl?: KafkaSasl;
  /**
   * Accept SASL over a plaintext connection to a broker beyond loopback. Off by default: such a
   * configuration fails at start with InsecureCredentials.
   */
  readonly allowInsecure?: boolean;
}

/**
 * How to reach Kafka: kafkajs client settings (brokers, clientId, timeouts, retry...) with TLS and SASL
 * as in KafkaSecurityOptions, read from the service config key `kafka`, else KAFKA_BROKERS
 * (comma-separated), else 127.0.0.1:9092. kafkajs's own `ssl` (`true`, or Node TLS options) still
 * works when `tls` is not given. Secrets are never logged.
 */
export type KafkaOptions = Omit<Partial<KafkaConfig>, 'sasl'> & KafkaSecurityOptions;

export const defaultKafkaBrokers = '127.0.0.1:9092';

export function brokersFromEnv(): string[] {
  return (process.env['KAFKA_BROKERS'] ?? defaultKafkaBrokers).split(',').map((broker) => broker.trim()).filter(Boolean);
}

/** The Kafka options of a service: config.kafka over KAFKA_BROKERS over the default broker. */
export function kafkaOptionsFromConfig(config: Config): KafkaOptions {
  return { brokers: brokersFromEnv(), clientId: config.serviceName, ...((config['kafka'] ?? {}) as KafkaOptions) };
}

/**
 * The key of one client of a context: routes share it only when all their options are equal
 * (brokers, SASL, TLS, clientId...). It names the brokers and tells option sets apart by a keyed
 * one-way digest (see optionsDigest), never by a secret: equal Secrets count as equal, so routes
 * given equal options share one client.
 */
export function kafkaClientKey(options: KafkaOptions): string {
  const brokers = Array.isArray(options.brokers) ? options.brokers.join(',') : 'dynamic';
  return `kafka:${brokers}:${optionsDigest(options)}`;
}

/** The broker list as connection events name it (host:port pairs, no credentials). */
export function brokersLabel(options: KafkaOptions): string {
  return Array.isArray(options.brokers) ? options.brokers.join(',') : 'dynamic brokers';
}
