import { describeConformance } from '@micro-framework/conformance';
import { natsJetStreamConformanceAdapter } from '../src/testing/index.ts';

describeConformance(await natsJetStreamConformanceAdapter());
