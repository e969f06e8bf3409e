/**
 * Child process of the `bridge` bench: 25 vehicles stream ArduCopter telemetry through the full
 * ingest pipeline for N simulated seconds (5 messages per vehicle per round, 10 rounds/s), then
 * prints the resident set size as one JSON line (N = 0: the baseline without traffic). Run alone so the figure is this work's own.
 */
import { buildIngestPipeline } from './pipeline.ts';
import { telemetryPackets } from './streams.ts';

const seconds = Number(process.argv[2] ?? 60);
const ROUNDS_PER_SECOND = 10;
const pipeline = buildIngestPipeline();
// One second of traffic at a time, so the input itself never sits in memory whole.
for (let s = 0; s < seconds; s++) {
  for (const packet of telemetryPackets(25, ROUNDS_PER_SECOND, s + 1)) pipeline.push(packet);
}
const vehicles = pipeline.vehicles.list().length;
// seconds = 0 is the baseline: the same modules loaded and the pipeline built, nothing streamed.
if (seconds > 0 && vehicles !== 25) throw new Error(`expected 25 vehicle sessions, found ${vehicles}`);
global.gc?.();
const rssMb = process.memoryUsage().rss / 1024 / 1024;
pipeline.close();
console.log(JSON.stringify({ rssMb, vehicles, seconds }));
