/**
 * The in-repo test fixtures (test/fixtures/, described in its README.md): recordings from
 * ArduCopter and PX4 SITL and from the simulator's VE.Direct devices, each with the figures an
 * independent decoder (pymavlink; the VE.Direct Protocol document's frame handler) found in it,
 * which the tests compare Canopy's readings against.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MavLinkData } from 'mavlink-mappings';
import { decodeFrame, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import { TlogReader } from '../../firmware-bridge/tlog.ts';
import { repoRoot } from './tools.ts';

export const fixturesDir = join(repoRoot, 'test', 'fixtures');

export const fixturePath = (rel: string): string => join(fixturesDir, rel);

/** What pymavlink found in a .tlog fixture (`<name>.figures.json`, written at recording time). */
export interface MavlinkFigures {
  decoder: string;
  sha256: string;
  records: number;
  first_us: number;
  last_us: number;
  /** Frames pymavlink decoded, by message id. */
  messages: Record<string, { name: string; count: number }>;
  /** Frames of ids pymavlink's dialect does not hold, by id (counted from their headers). */
  not_decoded_by_pymavlink: Record<string, number>;
  /** Frames by "sysid/compid". */
  sources: Record<string, number>;
  vehicle: { sysid: number; autopilot: number; type: number };
  /** The vehicle's HEARTBEAT custom_mode on each change, with pymavlink's name for it. */
  modes: { custom_mode: number; name: string }[];
  /** The vehicle's armed flag on each change. */
  armed: boolean[];
  /** The vehicle's STATUSTEXTs, chunks as sent (id, chunk_seq). */
  statustexts: { severity: number; text: string; id: number; chunk_seq: number }[];
  /** COMMAND_LONG commands the ground station sent, in order. */
  commands_sent: number[];
  /** The vehicle's COMMAND_ACKs: [command, result]. */
  command_acks: [number, number][];
  params: { param_count: number; distinct_indices: number; sample: Record<string, number> };
  last_global_position_int: { lat: number; lon: number; relative_alt: number };
}

/** What the VE.Direct Protocol document's frame handler found in a dump fixture. */
export interface VeDirectFigures {
  decoder: string;
  sha256: string;
  bytes: number;
  checksum_fields: number;
  good_blocks: number;
  /** Blocks whose bytes did not sum to 0 (the handler counts a block the dump opens inside as one). */
  bad_blocks: number;
  hex_frames: number;
  /** SHA-256 of the good blocks as "label=value" lines, a blank line between blocks. */
  good_blocks_sha256: string;
  blocks_by_first_label: Record<string, number>;
  /** Consecutive distinct values of some fields over the good blocks. */
  changes: Record<string, string[]>;
  first_good_block: [string, string][];
  last_good_block: [string, string][];
}

export function fixtureFigures<T extends MavlinkFigures | VeDirectFigures>(rel: string): T {
  return JSON.parse(readFileSync(fixturePath(rel.replace(/\.[a-z]+$/, '.figures.json')), 'utf8')) as T;
}

/** The recorded sessions with real autopilots (SITL), each with its pymavlink figures. */
export const AUTOPILOT_TLOGS = ['mavlink/arducopter-sitl.tlog', 'mavlink/px4-sitl.tlog'] as const;

/** Every message id's frame count from pymavlink's figures, decoded or not. */
export function countsById(f: MavlinkFigures): Record<string, number> {
  const counts: Record<string, number> = { ...f.not_decoded_by_pymavlink };
  for (const [id, m] of Object.entries(f.messages)) counts[id] = (counts[id] ?? 0) + m.count;
  return counts;
}

/**
 * The frames of a .tlog cut by their length bytes alone (8-byte timestamp, then a MAVLink 1 or 2
 * frame whose length follows from its header): no CRC, no framer, so independent of the reader.
 */
export function tlogFramesByLength(data: Buffer): { timeUs: bigint; raw: Buffer }[] {
  const out: { timeUs: bigint; raw: Buffer }[] = [];
  for (let at = 0; at + 8 < data.length; ) {
    const v2 = data[at + 8] === 0xfd;
    const signed = v2 && (data[at + 10]! & 1) === 1;
    const length = v2 ? 12 + data[at + 9]! + (signed ? 13 : 0) : 8 + data[at + 9]!;
    out.push({ timeUs: data.readBigUInt64BE(at), raw: data.subarray(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  return out;
}

/** One record of a recorded session read with Canopy's reader: when (ms from the first record), the frame, and its decoding (unknown ids: undefined). */
export interface RecordedMessage {
  atMs: number;
  frame: Frame;
  message: MavLinkData | undefined;
}

/** Every record of a .tlog fixture, in order, decoded. */
export function recordedMessages(rel: string): RecordedMessage[] {
  const out: RecordedMessage[] = [];
  let firstUs: bigint | undefined;
  for (const { timeUs, frame } of new TlogReader(readFileSync(fixturePath(rel)))) {
    firstUs ??= timeUs;
    out.push({ atMs: Number(timeUs - firstUs) / 1000, frame, message: decodeFrame(frame) });
  }
  return out;
}
