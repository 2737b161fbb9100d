import { describeConformance } from '@micro-framework/conformance';
import { natsCoreConformanceAdapter } from '../src/testing/index.ts';

describeConformance(await natsCoreConformanceAdapter());
