import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JsonTranslator, SchemaTranslator, SchemaValidationError } from '../src/index.ts';

describe('translators', () => {
  it('JsonTranslator parses text or UTF-8 bytes at its index and leaves other values', () => {
    const json = new JsonTranslator();
    expect(json.translate(['{"a":1}', 'keep'])).toEqual([{ a: 1 }, 'keep']);
    expect(json.translate([new TextEncoder().encode('[1,"é"]')])).toEqual([[1, 'é']]);
    expect(json.translate([{ already: true }])).toEqual([{ already: true }]);
    expect(new JsonTranslator({ index: 1 }).translate(['x', '2'])).toEqual(['x', 2]);
    expect(() => json.translate(['{'])).toThrow(SyntaxError);
    expect(() => json.translate([])).toThrow(/position 0/);
  });

  it('SchemaTranslator validates with any Standard Schema library and returns its output', async () => {
    const order = z.object({ id: z.number(), qty: z.coerce.number().default(1) });
    const translator = new SchemaTranslator(order);
    expect(await translator.translate([{ id: 1 }])).toEqual([{ id: 1, qty: 1 }]);
    const failure = translator.translate([{ id: 'x' }]);
    await expect(failure).rejects.toBeInstanceOf(SchemaValidationError);
    await expect(failure).rejects.toThrow(/id/);
  });
});
