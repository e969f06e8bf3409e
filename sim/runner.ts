/**
 * Running a world: as fast as the machine allows (`runFast`, for `canopy sim run`, tests and the
 * bench) or paced to the wall clock (`runRealTime`, for `canopy start`). Both advance the same
 * simulated clock in fixed physics steps, so the controller sees the same time either way.
 */
import { settle } from '../firmware-bridge/clock.ts';
import type { SimWorld, WorldSample } from './world.ts';

export const STEP_MS = 100;

export interface RunOptions {
  durationMs: number;
  /** Record a sample every this many simulated ms (default 60 s). */
  sampleEveryMs?: number;
  onSample?: (sample: WorldSample) => void;
  /** Called about every `progressEveryMs` of simulated time with the fraction done. */
  onProgress?: (fraction: number) => void;
  progressEveryMs?: number;
  /** Called before every step (fault injection, the controller's tick). */
  beforeStep?: (nowMs: number) => void;
}

/**
 * Steps the world until `durationMs` of simulated time have passed. Between steps it yields to
 * the event loop so promise continuations (the controller's microservices) and I/O run; the
 * simulated clock does not move while they do.
 */
export async function runFast(world: SimWorld, opts: RunOptions): Promise<void> {
  const start = world.clock.now();
  const end = start + opts.durationMs;
  const sampleEvery = opts.sampleEveryMs ?? 60_000;
  const progressEvery = opts.progressEveryMs ?? Math.max(STEP_MS, Math.floor(opts.durationMs / 100));
  let nextSample = start;
  let nextProgress = start + progressEvery;
  while (world.clock.now() < end) {
    const now = world.clock.now();
    opts.beforeStep?.(now);
    const sample = world.step(STEP_MS / 1000);
    if (sample.timeMs >= nextSample) {
      opts.onSample?.(sample);
      nextSample += sampleEvery;
    }
    if (sample.timeMs >= nextProgress) {
      opts.onProgress?.((sample.timeMs - start) / opts.durationMs);
      nextProgress += progressEvery;
    }
    await settle();
  }
  opts.onProgress?.(1);
}

/**
 * Steps the world in real time (× `speed`) until `signal` aborts; returns the number of steps run.
 * Like runFast it yields to the event loop after every step, so the controller's I/O (the radio
 * links, the mesh's clients) keeps up with the world: a speed the machine cannot reach runs as
 * fast as it goes, and never in bursts of steps that fill the queues faster than they drain.
 */
export async function runRealTime(world: SimWorld, opts: { speed?: number; signal: AbortSignal; beforeStep?: (nowMs: number) => void; onSample?: (s: WorldSample) => void; sampleEveryMs?: number }): Promise<number> {
  const speed = opts.speed ?? 1;
  const sampleEvery = opts.sampleEveryMs ?? 1000;
  let steps = 0;
  let nextSample = world.clock.now();
  const wallStart = performance.now();
  const simStart = world.clock.now();
  while (!opts.signal.aborted) {
    // Never run ahead of the wall clock: wait for the next step's time.
    const aheadMs = world.clock.now() + STEP_MS - (simStart + (performance.now() - wallStart) * speed);
    if (aheadMs > 0) {
      await wallSleep(aheadMs / speed, opts.signal);
      continue;
    }
    opts.beforeStep?.(world.clock.now());
    const s = world.step(STEP_MS / 1000);
    steps++;
    if (s.timeMs >= nextSample) {
      opts.onSample?.(s);
      nextSample += sampleEvery;
    }
    await settle();
  }
  return steps;
}

/** Waits `ms` of wall time, or less if `signal` aborts. */
function wallSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(1, ms));
    signal.addEventListener('abort', done);
  });
}
