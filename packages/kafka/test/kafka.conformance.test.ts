import { describeConformance } from '@micro-framework/conformance';
import { kafkaConformanceAdapter } from '../src/testing/index.ts';

describeConformance(await kafkaConformanceAdapter());
