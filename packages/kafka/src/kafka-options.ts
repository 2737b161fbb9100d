import { optionsDigest, type Config } from '@micro-framework/core';
import type { KafkaConfig } from 'kafkajs';

/**
 * How to reach Kafka: kafkajs client settings (brokers, clientId, ssl, sasl, timeouts), read from the
 * service config key `kafka`, else KAFKA_BROKERS (comma-separated), else 127.0.0.1:9092. SASL and TLS
 * settings pass through to kafkajs untouched and are never logged.
 */
export type KafkaOptions = Partial<KafkaConfig>;

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
 * (brokers, SASL, TLS, clientId...). It names the brokers and tells option sets apart by a one-way
 * digest (see optionsDigest), never by a secret.
 */
export function kafkaClientKey(options: KafkaOptions): string {
  const brokers = Array.isArray(options.brokers) ? options.brokers.join(',') : 'dynamic';
  return `kafka:${brokers}:${optionsDigest(options)}`;
}

/** The broker list as connection events name it (host:port pairs, no credentials). */
export function brokersLabel(options: KafkaOptions): string {
  return Array.isArray(options.brokers) ? options.brokers.join(',') : 'dynamic brokers';
}
