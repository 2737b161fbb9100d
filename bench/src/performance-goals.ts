import type { Goal } from './goals.ts';

/** Our peak RSS with Node's default heap sizing (not the row with a bounded semi-space). */
const memory = /^peak RSS draining 200,000(?!.*semi-space)/;

/** The memory goals: what sets the peak (the same on every broker; Kafka also holds its fetches). */
const memoryPrevents =
  "V8's young generation, not messages held. The process holds about 75 MiB before it consumes and heap snapshots halfway through the drain find 25–31 MiB live; --trace-gc-nvp of a drain shows each scavenge keeping 0.5–0.7 MB alive (100 calls in flight: messages and their suspended async steps) and V8 doubling the semi-space whenever the bytes kept since its last growth exceed its size, from 1 up to 32 MiB, which a drain of 200,000 always reaches. The same drain with --max-semi-space-size=16 is the row below ours in the figures. A library cannot set this: V8 sizes the young generation when the process starts (node flags, NODE_OPTIONS, or a smaller default in a container with a memory limit). What the framework sets, the bytes kept per message in flight, would slow the growth, not stop it.";

/** The goals of issue #16, and what the profiles found standing in the way of each. */
export const performanceGoals: readonly Goal[] = [
  {
    broker: /^Kafka$/,
    measure: memory,
    label: 'Kafka: peak RSS draining 200,000',
    conditions: [{ kind: 'at most', value: 200 }],
    prevents: memoryPrevents,
  },
  {
    broker: /^NATS JetStream/,
    measure: memory,
    label: 'JetStream: peak RSS draining 200,000',
    conditions: [{ kind: 'at most', value: 200 }],
    prevents: memoryPrevents,
  },
  {
    broker: /^RabbitMQ$/,
    measure: memory,
    label: 'RabbitMQ: peak RSS draining 200,000',
    conditions: [{ kind: 'at most', value: 200 }],
    prevents: memoryPrevents,
  },
  {
    broker: /^RabbitMQ$/,
    measure: /^RPC 64 in flight$/,
    label: 'RabbitMQ RPC, 64 in flight',
    conditions: [{ kind: 'best peer', factor: 1.2 }, { kind: 'raw', factor: 0.9 }],
    prevents:
      "CPU per call, each contestant alone (npm run bench:cpu-cost, results/cpu-cost.md, 8,000 calls at 64 in flight): ours 79 µs in our process (client and server) + 69 µs in RabbitMQ, Moleculer 54 + 50, NestJS 85 + 66, the raw loop 44 + 48. Broker and service share the two cores, and every contestant's rate follows the sum (ours 147 µs → 10.4k calls/s, Moleculer 104 → 15.2k, raw 92 → 17.8k). RabbitMQ's extra 19 µs against Moleculer is the guarantees: a publisher confirm for each request and each reply, mandatory requests through the ufw-rpc topic exchange; Moleculer's transporter publishes on a plain channel (no confirms, no mandatory: moleculer/src/transporters/amqp.js, createChannel and sendToQueue) and acks a request once its reply is handed to amqplib. At 1.2× Moleculer a call could cost about 87 µs in all, so with RabbitMQ's 69 our process would have to spend at most 18 µs (0.9× raw: 33 µs), less than the raw amqplib loop spends without any guarantee (44). Our process, profiled (inspector sampling over 8,000 calls): socket writes 13 %, amqplib 20 % (frames, header tables), GC 5 %, JSON and UTF-8 7 %, our code 25 % (client, listener, confirm tracking, core's dispatch), the rest Node internals (microtasks, timers); no single item to cut.",
  },
  {
    broker: /^RabbitMQ$/,
    measure: /^RPC sequential p99$/,
    label: 'RabbitMQ RPC, sequential p99',
    conditions: [{ kind: 'raw', factor: 1.5 }, { kind: 'best peer', factor: 1 }],
    prevents:
      "the CPU on each call's path. One call at a time nothing overlaps, and the CPU a call costs both sides is most of its time (results/cpu-cost.md, rpc-sequential): ours 238 µs in our process + 235 in RabbitMQ against 507 µs per call, Moleculer 147 + 175 against 356, the raw loop 116 + 185 against 335. Ours pays for two more frames per call than Moleculer (the confirms of the request and of the reply, each read and handled by its side) and the topic-exchange routing in RabbitMQ; the p99 of 2,000 calls (the 20th slowest) adds the pauses (GC, the other contestants' timers in the bench process) to that, with the same ratio to the p50 as the peers'.",
  },
  {
    broker: /^NATS JetStream/,
    measure: /^consume\+ack/,
    label: 'JetStream consume + ack',
    conditions: [{ kind: 'raw', factor: 1 }, { kind: 'best peer', factor: 1.2 }],
    prevents:
      "our process's CPU per message. Each contestant alone (results/cpu-cost.md, 50,000 messages): ours 12.3 µs in our process + 8.4 in nats-server, Moleculer 9.5 + 7.8, the raw loop 11.2 + 9.0; the consuming process is the busy side (85–95 % of a core) for all three. The three drain within each other's spread (rounds of this run; in isolation ours was 1.03× and 0.82× raw, 1.07× and 1.00× Moleculer in two runs of this session); Moleculer spends least yet is not faster: its push consumer waits on the server's flow (max_ack_pending = maxInFlight) and sends a +WPI progress message before each handler. 1.2× Moleculer needs about 10.8 µs per message in our process, less than the raw loop's 11.2 spent doing nothing but ack: JSON decoding, the delivery count (nats.js parses it from the reply subject), headers, the worker under the concurrency limit and the bounded pull would have to cost nothing. Profiled (inspector sampling over the drain): the NATS client 33 %, socket writes 11 %, GC 6 %, JSON and UTF-8 15 %, our code 26 % (core's deliver/decide/worker steps, the listener).",
  },
  {
    broker: /^Kafka$/,
    measure: /^consume\+ack/,
    label: 'Kafka consume + ack',
    conditions: [{ kind: 'raw', factor: 0.4 }, { kind: 'best peer', factor: 4 }],
    prevents:
      "CPU per record in our process. Each contestant alone (results/cpu-cost.md, 50,000 records): ours 7.3 µs in our process + 2.0 in Kafka, NestJS 20 + 0.6, the raw loop 2.5 + 0.2 (it resolves offsets and commits once per batch, nothing per record). This round removed most of the broker's share: the listener committed a partition again as soon as its last commit returned, one commit per few records and 8.4 µs of Kafka's CPU per record; it now commits at most once per commitIntervalMs (100 ms) and at a batch's end, which took our drain, measured alone on one host before and after, from 76k to about 130k records/s (across bench runs the hosts differ: the last run before it, on a slower host, had ours at 0.24× raw and 3.2× NestJS, this one 0.24× and 3.4×, with the raw loop's own rounds spread from 397k to 778k). Profiled (inspector sampling, 200,000 records at 162–168k records/s, 7 µs per record): GC 13 %, JSON.parse of the values 10 %, kafkajs's record decoding (varints, Long offsets, UTF-8) about 10 %, core's steps per record (deliver, decide, startRoute, spawnWorker, track, the worker) about 22 %, the listener's per-record run 7 %. Our process is the busy side, so 4× NestJS needs about 5.3 µs of our CPU per record at this run's NestJS figure (a quarter less) and 0.4× raw about 3.7 µs (half); the decoding and GC, which any consumer of JSON records pays, take about 2.5 µs of it. Core's per-record steps are the largest item of ours and the next lead (fewer async layers per record), not taken this round.",
  },
];
