import 'reflect-metadata';
import { Controller, Module, type INestMicroservice, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload, type MicroserviceOptions } from '@nestjs/microservices';

/** One handler of the bench controller: an event (consume) or a message (request/reply) pattern. */
export interface NestHandler {
  readonly kind: 'event' | 'message';
  readonly pattern: string;
  handle(data: unknown, context: unknown): unknown;
}

/**
 * A module with one controller holding `handlers`, built with the decorators applied as functions
 * (what `@Controller()`, `@EventPattern()`, `@MessagePattern()`, `@Payload()` and `@Ctx()` do), since
 * the bench runs on Node's type stripping, which has no decorator syntax.
 */
function benchModule(handlers: readonly NestHandler[]): Type {
  class BenchController {}
  handlers.forEach((handler, index) => {
    const key = `handle${index}`;
    Object.defineProperty(BenchController.prototype, key, { value: handler.handle, writable: true, configurable: true });
    const descriptor = Object.getOwnPropertyDescriptor(BenchController.prototype, key)!;
    const decorate = handler.kind === 'event' ? EventPattern(handler.pattern) : MessagePattern(handler.pattern);
    decorate(BenchController.prototype, key, descriptor);
    Payload()(BenchController.prototype, key, 0);
    Ctx()(BenchController.prototype, key, 1);
  });
  Controller()(BenchController);
  class BenchModule {}
  Module({ controllers: [BenchController] })(BenchModule);
  return BenchModule;
}

/** Starts a NestJS microservice (transport and its options) serving `handlers`; resolves once it listens. */
export async function startNestService(options: MicroserviceOptions, handlers: readonly NestHandler[]): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(benchModule(handlers), { ...options, logger: false });
  await app.listen();
  return app;
}
