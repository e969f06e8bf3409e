/**
 * Bench suite `bridge`: the firmware-bridge against node-mavlink on the same input, in one run.
 *   ingest_ratio          full pipeline msgs/s (frame + decode + vehicle state + route + tlog)
 *                         ÷ node-mavlink split + parse + decode msgs/s (goal ≥ 0.5)
 *   recovery_vs_ideal_*   packets recovered from a corrupted stream ÷ packets with no corrupted byte
 *   rss_mb_25             resident memory of a process of the release build with 25 vehicles
 *                         streaming, with the node flags of the Pi's service (goal ≤ 100)
 *   rss_mb_baseline       the same process with nothing streamed (what the runtime itself takes)
 *   rss_mb_25_node_defaults  rss_mb_25 without those flags (V8's default young generation)
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { minimal, common, ardupilotmega, type MavLinkData, type MavLinkDataConstructor } from 'mavlink-mappings';
import { MavLinkPacketParser, MavLinkPacketSplitter, type MavLinkPacket } from 'node-mavlink';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { chunked, measureRecovery, telemetryPackets } from './streams.ts';
import { buildIngestPipeline } from './pipeline.ts';
import { releaseBuild, serviceNodeFlags, siblingModule } from '../rigs/processes.ts';

const REGISTRY: Record<number, MavLinkDataConstructor<MavLinkData>> = { ...minimal.REGISTRY, ...common.REGISTRY, ...ardupilotmega.REGISTRY };

/** node-mavlink's own stack: MavLinkPacketSplitter → MavLinkPacketParser → protocol.data(). */
function nodeMavlinkIngest(stream: Buffer, seed: number): number {
  let decoded = 0;
  const splitter = new MavLinkPacketSplitter();
  const parser = new MavLinkPacketParser();
  parser.on('data', (packet: MavLinkPacket) => {
    const clazz = REGISTRY[packet.header.msgid];
    if (clazz && packet.protocol.data(packet.payload, clazz)) decoded++;
  });
  splitter.on('data', (p: unknown) => parser.write(p));
  chunked(stream, seed, (c) => splitter.write(c));
  return decoded;
}

function canopyIngest(stream: Buffer, seed: number): number {
  const pipeline = buildIngestPipeline();
  chunked(stream, seed, (c) => pipeline.push(c));
  const decoded = pipeline.decoded();
  pipeline.close();
  return decoded;
}

function rate(fn: () => number): { perSecond: number; count: number } {
  const t0 = process.hrtime.bigint();
  const count = fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: count / seconds, count };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const suite: BenchSuite = {
  description: 'firmware-bridge vs node-mavlink: ingest throughput, recovery from corrupted streams, memory with 25 vehicles',
  async run(progress, { quick }) {
    const figures: Figures = {};
    const rounds = quick ? 200 : 1000;
    const packets = telemetryPackets(25, rounds, 11);
    const stream = Buffer.concat(packets);
    progress(`ingest: ${packets.length} packets (${(stream.length / 1e6).toFixed(1)} MB) from 25 vehicles, alternating runs`);
    const ours: number[] = [];
    const theirs: number[] = [];
    const repeats = quick ? 3 : 7;
    // Warm up both, then alternate so machine noise hits both sides alike.
    canopyIngest(stream, 1);
    nodeMavlinkIngest(stream, 1);
    for (let i = 0; i < repeats; i++) {
      const a = rate(() => canopyIngest(stream, i));
      const b = rate(() => nodeMavlinkIngest(stream, i));
      if (a.count !== packets.length || b.count !== packets.length) {
        throw new Error(`ingest lost packets: canopy ${a.count}, node-mavlink ${b.count}, sent ${packets.length}`);
      }
      ours.push(a.perSecond);
      theirs.push(b.perSecond);
      progress(`  run ${i + 1}/${repeats}: canopy ${Math.round(a.perSecond)} msgs/s, node-mavlink ${Math.round(b.perSecond)} msgs/s`);
    }
    figures.ingest_msgs_per_s = Math.round(median(ours));
    figures.node_mavlink_msgs_per_s = Math.round(median(theirs));
    figures.ingest_ratio = median(ours) / median(theirs);

    const recoveryPackets = telemetryPackets(25, quick ? 40 : 200, 5);
    for (const [label, r] of [['1e-4', 1e-4], ['1e-3', 1e-3], ['1e-2', 1e-2]] as const) {
      progress(`recovery at byte error rate ${label}`);
      const m = measureRecovery(recoveryPackets, r, 99);
      figures[`recovery_vs_ideal_${label}`] = m.canopyVsIdeal;
      figures[`node_mavlink_recovery_vs_ideal_${label}`] = m.nodeMavlinkVsIdeal;
    }

    // Memory is that of the release build (what a Pi runs: no tsx compiler in the process).
    const script = rssScript(progress);
    progress('memory: 25 vehicles streaming in a fresh process of the release build');
    const flags = serviceNodeFlags();
    const seconds = quick ? 60 : 600;
    figures.rss_mb_25 = measureRss(script, seconds, flags);
    figures.rss_mb_baseline = measureRss(script, 0, flags);
    figures.rss_mb_25_node_defaults = measureRss(script, seconds, []);
    figures.service_node_flags = flags.join(' ');
    return figures;
  },
};

/** rss-25 of the release build: beside this module in dist/, or in the checkout's dist/ built now. */
function rssScript(progress: (m: string) => void): string {
  if (!import.meta.url.endsWith('.ts')) return siblingModule(import.meta.url, 'rss-25');
  return join(releaseBuild(progress).root, 'dist', 'harness', 'bench', 'rss-25.js');
}

/**
 * Runs rss-25 in a child process so the figure is not inflated by the benchmark's own buffers;
 * `seconds` = 0 gives the baseline (the runtime and the dialects loaded, no traffic).
 */
function measureRss(script: string, seconds: number, nodeFlags: string[]): number {
  const r = spawnSync(process.execPath, ['--expose-gc', ...nodeFlags, script, String(seconds)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rss-25 failed: ${r.stderr}`);
  return Number(JSON.parse(r.stdout.trim().split('\n').pop()!).rssMb);
}
