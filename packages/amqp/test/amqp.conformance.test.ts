import { describeConformance } from '@micro-framework/conformance';
import { amqpConformanceAdapter } from '../src/testing/index.ts';

describeConformance(await amqpConformanceAdapter());
