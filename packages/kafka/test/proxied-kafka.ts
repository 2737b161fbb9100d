import { TcpProxy } from '@micro-framework/conformance';
import { brokersFromEnv } from '../src/index.ts';

/**
 * A TcpProxy on the local broker's PROXIED listener (port + 2), advertised at port + 3, so every
 * connection of a client bootstrapped at `brokers` crosses the proxy and the network can be cut
 * (tools/kafka/kafka.mjs). The conformance suite binds the same port: test files run one at a time.
 */
export async function proxiedKafka(): Promise<{ proxy: TcpProxy; brokers: string[] }> {
  const [host, portText] = brokersFromEnv()[0]!.split(':');
  const port = Number(portText ?? 9092);
  const proxy = new TcpProxy({ host: host!, port: port + 2 });
  await proxy.start(port + 3);
  return { proxy, brokers: [`127.0.0.1:${port + 3}`] };
}

/** Polls `read` every 10 ms until stopped, keeping each distinct non-empty answer (a readiness reason). */
export function watchReadiness(read: () => string | undefined): { reasons: string[]; stop: () => void } {
  const reasons: string[] = [];
  const timer = setInterval(() => {
    const reason = read();
    if (reason !== undefined && reasons.at(-1) !== reason) reasons.push(reason);
  }, 10);
  return { reasons, stop: () => clearInterval(timer) };
}
