import { inMemoryConformanceAdapter } from '@micro-framework/core/testing';
import { describeConformance } from '../src/index.ts';

describeConformance(inMemoryConformanceAdapter());
