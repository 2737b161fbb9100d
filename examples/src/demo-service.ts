/**
 * A demo service on the in-memory broker: an event route with a backoff and a callback, an RPC
 * target, and a timer that calls that RPC and dispatches events. Ctrl-C (or SIGTERM) stops it cleanly.
 *
 *   npm run demo                 # runs until Ctrl-C; metrics on http://127.0.0.1:9464/metrics
 *   DEMO_RUN_MS=5000 npm run demo  # stops by itself after 5 s
 *   DEMO_METRICS_PORT=0 npm run demo  # metrics on a free port (printed); `off` serves none
 */
import {
  Backoff,
  BackoffContext,
  CallbackRoute,
  InMemoryEventListener,
  InMemoryProducer,
  InMemoryRpcClient,
  InMemoryRpcListener,
  NonRetryableError,
  Route,
  Runner,
  RpcProxy,
  TimeEntrypoint,
  inject,
} from '@micro-framework/core';

interface Order {
  id: number;
  sku: string;
  quantity: number;
}

const log = (source: string, text: string): void => {
  console.log(`${new Date().toISOString().slice(11, 23)} [${source}] ${text}`);
};

// RPC target: inventory.reserve(sku, quantity) -> remaining stock.
const stock = new Map<string, number>([['book', 3], ['pen', 100]]);
function reserve(sku: string, quantity: number): number {
  const available = stock.get(sku) ?? 0;
  if (available < quantity) throw Object.assign(new Error(`only ${available} ${sku} left`), { name: 'OutOfStock', data: { sku, available } });
  stock.set(sku, available - quantity);
  return available - quantity;
}

// Event route: handle shop.order_placed; every third order fails once to show the backoff.
const handleOrder = inject({ retry: new BackoffContext() }, function handleOrder({ retry }, order: Order) {
  if (order.id % 3 === 0 && retry.retryCount === 0) throw new Error(`payment gateway busy for order ${order.id}`);
  if (order.quantity <= 0) throw new NonRetryableError(`order ${order.id} has no items`);
  log('orders', `order ${order.id} paid (${order.quantity} × ${order.sku}) after ${retry.retryCount} retr${retry.retryCount === 1 ? 'y' : 'ies'}`);
});

function refundOrder(order: Order, error: Error): string {
  log('orders', `order ${order.id} given up: ${error.message} -> refund issued`);
  return 'refunded';
}

// Timer: place an order every 700 ms; reserve stock over RPC first.
let nextOrderId = 1;
const rpcClient = new InMemoryRpcClient();
const placeOrder = inject(
  { inventory: new RpcProxy(() => rpcClient), events: new InMemoryProducer() },
  async function placeOrder({ inventory, events }) {
    const id = nextOrderId++;
    const order: Order = { id, sku: id % 4 === 0 ? 'book' : 'pen', quantity: id % 5 === 0 ? 0 : 1 };
    try {
      const left = await inventory.call<number>('shop', 'reserve', [order.sku, Math.max(order.quantity, 1)], { timeoutMs: 1_000 });
      log('timer', `reserved ${order.sku} for order ${id} (${left} left); publishing order_placed`);
      await events.publish('order_placed', order);
    } catch (error) {
      log('timer', `could not reserve for order ${id}: ${(error as Error).message}`);
    }
  },
);

const metricsPort = process.env['DEMO_METRICS_PORT'] ?? '9464';
const runner = new Runner({
  config: {
    serviceName: 'shop',
    maxWorkers: 4,
    // /metrics (Prometheus), /healthz and /readyz; JSON logs of the service go to stderr.
    metrics: { enabled: metricsPort !== 'off', host: '127.0.0.1', port: Number(metricsPort) },
  },
  contexts: [
    {
      routes: [
        new CallbackRoute({
          target: handleOrder,
          entrypoint: new InMemoryEventListener({ sourceService: 'shop', eventName: 'order_placed' }),
          backoff: new Backoff({ maxRetries: 2, interval: 300 }),
          callbackTarget: refundOrder,
        }),
        new Route({ target: reserve, entrypoint: new InMemoryRpcListener({ description: 'reserve stock of a SKU' }) }),
        new Route({ target: placeOrder, entrypoint: new TimeEntrypoint({ intervalMs: 700, eager: true }) }),
      ],
    },
  ],
});

runner.stopOnSignals({
  timeoutMs: 5_000,
  onStopped: (error) => {
    void rpcClient.close();
    log('shop', error ? `stopped with errors: ${String(error)}` : 'stopped cleanly');
  },
});
await runner.start();
log('shop', 'service "shop" running on the in-memory broker (Ctrl-C to stop)');
const address = runner.metricsAddress;
if (address) log('shop', `metrics on http://${address.host}:${address.port}/metrics`);
const runFor = Number(process.env['DEMO_RUN_MS'] ?? 0);
if (runFor > 0) setTimeout(() => process.kill(process.pid, 'SIGTERM'), runFor).unref();
