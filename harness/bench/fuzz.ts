/**
 * Fuzz input for the bridge: well-formed frames of random known messages with random payloads,
 * mutations of them (bit flips, truncation, wrong length, signed flag, duplicated bytes), unknown
 * ids, MAVLink 1 frames and plain noise. Used by the bounded fuzz test and the `fuzz` bench.
 *
 * Bench suite `fuzz`: real frames (the ArduCopter and PX4 SITL sessions in test/fixtures, and the
 * reference captures beside the checkout where present: the VTOL tlog and the 3,412-packet PX4
 * stream; synthetic frames where none is there), mutated, through
 * the live ingest pipeline (framer, decoder, vehicle sessions, router, tlog writer) and, written
 * as a damaged tlog, through the tlog reader and `tlog info`'s summary.
 *   frames                   mutated frames fed (10 M; --quick 200 k)
 *   crashes                  exceptions out of the pipeline or the reader (goal 0)
 *   rss_growth_mb            RSS after the run − after the first tenth (goal: a few MB)
 *   max_event_loop_stall_ms  the longest one chunk of input held the event loop
 *   tlog_frames_read         records the reader recovered from the damaged tlog
 *   tlog_fd_run_mb_s         how fast the reader skips a run of 0xFD bytes (was 0.6 MB/s)
 */
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { BenchSuite } from '../../controller/commands/bench.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { TlogReader, tlogInfo, tlogRecord } from '../../firmware-bridge/tlog.ts';
import { programRoot } from '../rigs/processes.ts';
import { buildIngestPipeline } from './pipeline.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { knownMessageIds, messageInfo } from '../../firmware-bridge/protocol/dialect.ts';
import { IFLAG_SIGNED, SIGNATURE_LENGTH } from '../../firmware-bridge/protocol/frame.ts';
import { randomInt, seededRandom, type Random } from '../../firmware-bridge/random.ts';

const IDS = knownMessageIds();

function randomBytes(random: Random, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = randomInt(random, 256);
  return b;
}

/** A frame with a valid CRC for a random known message and random payload bytes. */
function validFrame(random: Random, signed: boolean): Buffer {
  const id = IDS[randomInt(random, IDS.length)]!;
  const info = messageInfo(id)!;
  // Few system ids, as on a real radio; fuzzing every sysid is the manager's cap test.
  const sysid = 1 + randomInt(random, 8);
  if (id < 256 && random() < 0.15) {
    const len = info.baseLength;
    const b = Buffer.concat([Buffer.from([0xfe, len, randomInt(random, 256), sysid, 1, id]), randomBytes(random, len), Buffer.alloc(2)]);
    b.writeUInt16LE(frameCrc(b, 1, 6 + len, info.crcExtra), 6 + len);
    return b;
  }
  const len = 1 + randomInt(random, info.maxLength);
  const head = Buffer.from([0xfd, len, signed ? IFLAG_SIGNED : 0, 0, randomInt(random, 256), sysid, 1, id & 0xff, (id >> 8) & 0xff, id >> 16]);
  const b = Buffer.concat([head, randomBytes(random, len), Buffer.alloc(2 + (signed ? SIGNATURE_LENGTH : 0))]);
  b.writeUInt16LE(frameCrc(b, 1, 10 + len, info.crcExtra), 10 + len);
  if (signed) randomBytes(random, SIGNATURE_LENGTH).copy(b, 12 + len);
  return b;
}

export function mutate(random: Random, b: Buffer): Buffer {
  const m = Buffer.from(b);
  switch (randomInt(random, 6)) {
    case 0: // bit flips
      for (let k = 0; k < 1 + randomInt(random, 4); k++) m[randomInt(random, m.length)]! ^= 1 << randomInt(random, 8);
      return m;
    case 1: // truncated
      return m.subarray(0, randomInt(random, m.length));
    case 2: // wrong length byte
      m[1] = randomInt(random, 256);
      return m;
    case 3: // signed flag set or cleared without a signature
      if (m[0] === 0xfd) m[2] = m[2]! ^ IFLAG_SIGNED;
      return m;
    case 4: // unknown incompat flags or unknown message id
      if (m[0] === 0xfd) {
        if (random() < 0.5) m[2] = randomInt(random, 256);
        else m[9] = 1 + randomInt(random, 255);
      }
      return m;
    default: // duplicated slice
      return Buffer.concat([m, m.subarray(randomInt(random, m.length))]);
  }
}

/** One fuzz chunk: a few frames, mutations and noise glued together. */
export function fuzzChunk(random: Random): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + randomInt(random, 6);
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.45) parts.push(validFrame(random, random() < 0.1));
    else if (r < 0.85) parts.push(mutate(random, validFrame(random, random() < 0.2)));
    else parts.push(randomBytes(random, 1 + randomInt(random, 64)));
  }
  return Buffer.concat(parts);
}

export function* fuzzChunks(seed: number, count: number): Generator<Buffer> {
  const random = seededRandom(seed);
  for (let i = 0; i < count; i++) yield fuzzChunk(random);
}

/**
 * Real frames: the in-repo SITL sessions, and the reference captures where they are beside the
 * checkout (an extra corpus); undefined when none of them is there (an installed copy).
 */
export function realFrames(): { frames: Buffer[]; sources: string[] } | undefined {
  const frames: Buffer[] = [];
  const sources: string[] = [];
  // A checkout's recordings (test/fixtures/mavlink/*.tlog) and the reference captures beside it.
  const recordings = join(programRoot(), 'test', 'fixtures', 'mavlink');
  const referenceDir = join(programRoot(), '..', 'shared', 'reference');
  const recorded = existsSync(recordings) ? readdirSync(recordings).filter((f) => f.endsWith('.tlog')).map((f) => join(recordings, f)) : [];
  const tlogs = [...recorded, join(referenceDir, 'mavlink', 'vtol.tlog')];
  for (const tlog of tlogs.filter((p) => existsSync(p))) {
    for (const r of new TlogReader(tlog)) frames.push(Buffer.from(r.frame.raw));
    sources.push(tlog);
  }
  const stream = join(referenceDir, 'mavlink', 'mavlink-v2-3412-packets.bin');
  if (existsSync(stream)) {
    const framer = new Framer((f) => frames.push(Buffer.from(f.raw)));
    framer.push(readFileSync(stream));
    framer.flush();
    sources.push(stream);
  }
  return frames.length ? { frames, sources } : undefined;
}

export const suite: BenchSuite = {
  description: 'mutated real frames through the ingest pipeline and the tlog reader',
  async run(progress, { quick }) {
    const total = quick ? 200_000 : 10_000_000;
    const found = realFrames();
    const real = found?.frames;
    const random = seededRandom(7);
    const pick = (): Buffer => (real ? real[randomInt(random, real.length)]! : validFrame(random, random() < 0.1));
    progress(`${total.toLocaleString('en')} frames from ${real ? `${real.length} real frames (${found!.sources.length} recordings)` : 'synthetic frames (no recordings found)'}`);
    const pipeline = buildIngestPipeline();
    let crashes = 0;
    let maxStallMs = 0;
    let rssAtTenth = 0;
    let fed = 0;
    const perChunk = 8;
    const dir = mkdtempSync(join(tmpdir(), 'canopy-fuzz-'));
    const tlogPath = join(dir, 'damaged.tlog');
    // A damaged tlog of the first million frames (or all of a quick run) for the reader.
    const tlogFrames = Math.min(total, 1_000_000);
    const tlogFd = openSync(tlogPath, 'w');
    try {
      let nextReport = 0;
      while (fed < total) {
        const parts: Buffer[] = [];
        for (let i = 0; i < perChunk && fed < total; i++, fed++) {
          const r = random();
          const frame = pick();
          parts.push(r < 0.5 ? frame : r < 0.95 ? mutate(random, frame) : randomBytes(random, 1 + randomInt(random, 64)));
        }
        const chunk = Buffer.concat(parts);
        if (fed <= tlogFrames) writeSync(tlogFd, Buffer.concat(parts.map((p, i) => (random() < 0.02 ? p : tlogRecord(1_750_000_000_000 + (fed + i) * 10, p)))));
        const t0 = performance.now();
        try {
          pipeline.push(chunk);
        } catch {
          crashes++;
        }
        maxStallMs = Math.max(maxStallMs, performance.now() - t0);
        if (!rssAtTenth && fed >= total / 10) {
          global.gc?.();
          rssAtTenth = process.memoryUsage().rss;
        }
        if (fed >= nextReport) {
          progress(`${Math.round((100 * fed) / total)} % (${fed.toLocaleString('en')} frames)`);
          nextReport += total / 10;
          // Let timers and I/O run between stretches, as the live station does.
          await new Promise((r) => setImmediate(r));
        }
      }
      closeSync(tlogFd);
      global.gc?.();
      const rssGrowthMb = (process.memoryUsage().rss - rssAtTenth) / 1e6;
      const stats = pipeline.stats();
      pipeline.close();
      progress('the damaged tlog through the reader');
      let tlogRead = 0;
      try {
        tlogRead = tlogInfo(tlogPath).records;
      } catch {
        crashes++;
      }
      const fdPath = join(dir, 'fd.tlog');
      const fdFd = openSync(fdPath, 'w');
      writeSync(fdFd, Buffer.alloc(32 * 1024 * 1024, 0xfd));
      closeSync(fdFd);
      const t0 = performance.now();
      try {
        tlogInfo(fdPath);
      } catch {
        crashes++;
      }
      const fdMbS = 32 * 1.048576 / ((performance.now() - t0) / 1000);
      return {
        frames: fed,
        crashes,
        rss_growth_mb: Math.round(rssGrowthMb * 10) / 10,
        max_event_loop_stall_ms: Math.round(maxStallMs * 100) / 100,
        frames_decoded: stats.frames,
        bad_crc: stats.badCrc,
        tlog_frames_read: tlogRead,
        tlog_fd_run_mb_s: Math.round(fdMbS * 10) / 10,
        source: found ? found.sources.map((p) => basename(p)).join(' ') : 'synthetic',
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
