import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const demo = fileURLToPath(new URL('../src/demo-service.ts', import.meta.url));

function runDemo(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--conditions=@micro-framework/source', demo], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('demo service', () => {
  it('handles orders with a retry and a callback, then stops cleanly on SIGTERM', async () => {
    const demoRun = runDemo({ DEMO_METRICS_PORT: '0' });
    await until(() => demoRun.output().includes('refund issued'), 'the callback line');
    const metricsUrl = /metrics on (http:\S+)/.exec(demoRun.output())?.[1];
    const scraped = await (await fetch(metricsUrl!)).text();
    expect(scraped).toMatch(/^micro_framework_tasks_total\{service="shop",context="default",route="CallbackRoute.handleOrder"\} [1-9]/m);
    expect(scraped).toMatch(/^micro_framework_retries_scheduled_total\{service="shop",context="default",route="CallbackRoute.handleOrder"\} [1-9]/m);
    demoRun.child.kill('SIGTERM');
    expect(await demoRun.exited).toBe(0);
    const output = demoRun.output();
    expect(output).toContain('reserved pen for order 1');
    expect(output).toContain('order 3 paid (1 × pen) after 1 retry');
    expect(output).toContain('order 5 given up: order 5 has no items -> refund issued');
    expect(output).toContain('stopped cleanly');
    expect(output).not.toMatch(/Error|Warning/);
  });
});
