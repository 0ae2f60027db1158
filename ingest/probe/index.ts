export { captureRate, captureRateOf, captureRateQuery, totalCaptureRate, type CaptureRateRow } from './capture-rate.ts';
export { probeMeasurements } from './changes.ts';
export { emptyProbeStats, type ProbeProcessorOptions, probeProcessorDefaults, type ProbeStats } from './options.ts';
export { ProbeProcessor } from './processor.ts';
export { dwellBuckets } from './visits.ts';

import type { ProbeProcessorOptions } from './options.ts';
import { ProbeProcessor } from './processor.ts';

export function createProbeProcessor(options: ProbeProcessorOptions): ProbeProcessor {
  return new ProbeProcessor(options);
}
