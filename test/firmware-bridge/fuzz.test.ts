import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIngestPipeline } from '../../harness/bench/pipeline.ts';
import { fuzzChunks, mutate, realFrames } from '../../harness/bench/fuzz.ts';
import { randomInt, seededRandom } from '../../firmware-bridge/random.ts';
import { MAX_FRAME } from '../../firmware-bridge/protocol/framer.ts';

// Bounded for CI; `canopy bench fuzz` runs millions of chunks through the same pipeline.
const CHUNKS = 20_000;

test('random and mutated frames through the whole pipeline: no exception escapes, memory stays bounded', () => {
  const pipeline = buildIngestPipeline();
  let maxBuffered = 0;
  let heapAtHalf = 0;
  let i = 0;
  for (const chunk of fuzzChunks(42, CHUNKS)) {
    pipeline.push(chunk);
    maxBuffered = Math.max(maxBuffered, pipeline.buffered());
    if (++i === CHUNKS / 2) {
      global.gc?.();
      heapAtHalf = process.memoryUsage().heapUsed;
    }
  }
  global.gc?.();
  const heapAtEnd = process.memoryUsage().heapUsed;
  const stats = pipeline.stats();
  pipeline.close();
  assert.ok(maxBuffered <= MAX_FRAME, `framer holds at most one frame's worth of bytes (held ${maxBuffered})`);
  assert.ok(stats.frames > CHUNKS / 2, `valid frames got through (${stats.frames})`);
  assert.ok(stats.badCrc > 0 && stats.garbageBytes > 0, 'mutations were seen and rejected');
  // Second half of the run must not keep growing the heap by more than a few MB.
  if (heapAtHalf) assert.ok(heapAtEnd - heapAtHalf < 16 * 1024 * 1024, `heap grew ${(heapAtEnd - heapAtHalf) / 1e6} MB`);
});

test('mutated real frames (the SITL sessions in test/fixtures) through the pipeline: no exception escapes, the intact ones get through', () => {
  const found = realFrames();
  assert.ok(found && found.sources.some((s) => s.endsWith('arducopter-sitl.tlog')) && found.sources.some((s) => s.endsWith('px4-sitl.tlog')), 'the in-repo recordings are always there');
  const random = seededRandom(18);
  const pipeline = buildIngestPipeline();
  let intact = 0;
  for (let i = 0; i < 5000; i++) {
    const frame = found.frames[randomInt(random, found.frames.length)]!;
    const whole = random() < 0.5;
    if (whole) intact++;
    pipeline.push(whole ? frame : mutate(random, frame));
  }
  const stats = pipeline.stats();
  pipeline.close();
  assert.ok(stats.frames >= intact, `${stats.frames} frames framed, ${intact} sent intact`);
  assert.ok(stats.badCrc > 0, 'mutations were seen and rejected');
});
