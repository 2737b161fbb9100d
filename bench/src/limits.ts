import type { Figure, PeerLead } from './report.ts';

/** What our route does beyond the raw loop, per broker and measure: the reason named with a shortfall. */
const reasons: Array<{ broker: RegExp; measure: RegExp; text: string }> = [
  {
    broker: /RabbitMQ/,
    measure: /RPC/,
    text: 'requests and replies are persistent and wait for publisher confirms on both sides and go through the ufw-rpc topic exchange with the mandatory flag (wire compatibility and no silent loss); the raw loop sends unconfirmed messages to the default exchange',
  },
  {
    broker: /RabbitMQ/,
    measure: /consume/,
    text: 'each message is decoded from JSON, its headers converted, and it runs as a worker under the concurrency limit before its ack; the raw loop acks the bytes at once',
  },
  {
    broker: /NATS/,
    measure: /consume/,
    text: 'each message is decoded from JSON and runs as a worker, and the next message is taken only when a worker slot is free (bounded in flight); the raw loop acks as it iterates',
  },
  {
    broker: /Kafka/,
    measure: /consume/,
    text: 'each record is decoded from JSON and runs as a worker in a per-key chain so keys keep their order, commits only advance over the contiguous finished prefix, and each batch first commits its delivery marker; the raw loop only resolves offsets and commits once per batch',
  },
];

/** One line for each figure below 0.9× raw (throughput) or above 1.1× raw (latency). */
export function explainShortfall(figure: Figure): string {
  const reason = reasons.find((r) => r.broker.test(figure.broker) && r.measure.test(figure.measure));
  return `${figure.broker}, ${figure.measure}: ${figure.contestant} is at ${figure.ratioToRaw!.toFixed(2)}× raw. What limits it: ${reason?.text ?? 'not analysed yet'}.`;
}

/** Why a peer framework is ahead of ours, per broker, measure and peer; filled in from measured runs. */
const peerReasons: Array<{ broker: RegExp; measure: RegExp; peer: RegExp; text: string }> = [];

/** One line for each peer figure better than ours. */
export function explainPeerLead({ ours, peer }: PeerLead): string {
  const reason = peerReasons.find((r) => r.broker.test(ours.broker) && r.measure.test(ours.measure) && r.peer.test(peer.contestant));
  const factor = ours.higherIsBetter ? peer.summary.median / ours.summary.median : ours.summary.median / peer.summary.median;
  return `${ours.broker}, ${ours.measure}: ${peer.contestant} is ${factor.toFixed(2)}× better than ${ours.contestant}. What limits ours: ${reason?.text ?? 'not analysed yet'}.`;
}
