export * from './conformance-adapter.ts';
export { inMemoryConformanceAdapter } from './in-memory-adapter.ts';
