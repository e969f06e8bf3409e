/**
 * Byte streams for the framer's recovery figures and the ingest benchmark: a realistic mix of
 * telemetry from many vehicles, and the corruption model (each byte independently replaced by a
 * different random byte with probability `rate`).
 */
import { common, minimal } from 'mavlink-mappings';
import type { MavLinkData } from 'mavlink-mappings';
import { MavLinkPacketSplitter } from 'node-mavlink';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { randomInt, seededRandom, type Random } from '../../firmware-bridge/random.ts';

/** The telemetry an ArduCopter streams to a GCS, one round per vehicle. */
function telemetryRound(random: Random, sysid: number, t: number): MavLinkData[] {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.baseMode = (minimal.MavModeFlag.CUSTOM_MODE_ENABLED | minimal.MavModeFlag.SAFETY_ARMED) as minimal.MavModeFlag;
  hb.customMode = 4;
  hb.systemStatus = minimal.MavState.ACTIVE;
  hb.mavlinkVersion = 3;
  const pos = new common.GlobalPositionInt();
  pos.timeBootMs = t;
  pos.lat = Math.round((-33.86 + random() * 0.001) * 1e7);
  pos.lon = Math.round((151.2 + random() * 0.001) * 1e7);
  pos.alt = 120_000 + randomInt(random, 5000);
  pos.relativeAlt = 100_000 + randomInt(random, 5000);
  pos.vx = randomInt(random, 200) - 100;
  pos.vy = randomInt(random, 200) - 100;
  pos.vz = randomInt(random, 20) - 10;
  pos.hdg = randomInt(random, 36000);
  const att = new common.Attitude();
  att.timeBootMs = t;
  att.roll = random() * 0.1;
  att.pitch = random() * 0.1;
  att.yaw = random() * 6;
  att.rollspeed = random() * 0.01;
  att.pitchspeed = random() * 0.01;
  att.yawspeed = random() * 0.01;
  const sys = new common.SysStatus();
  sys.voltageBattery = 22_000 + randomInt(random, 3000);
  sys.currentBattery = 1500 + randomInt(random, 500);
  sys.batteryRemaining = 40 + randomInt(random, 60);
  sys.load = 300;
  const gps = new common.GpsRawInt();
  gps.timeUsec = BigInt(t) * 1000n;
  gps.fixType = common.GpsFixType.GPS_FIX_TYPE_3D_FIX;
  gps.lat = pos.lat;
  gps.lon = pos.lon;
  gps.alt = pos.alt;
  gps.eph = 90;
  gps.epv = 120;
  gps.satellitesVisible = 14;
  return [hb, pos, att, sys, gps].map((m) => m);
}

export interface Packet {
  raw: Buffer;
}

/** `rounds` rounds of telemetry from `vehicles` vehicles, each with its own sequence counter. */
export function telemetryPackets(vehicles: number, rounds: number, seed = 1): Buffer[] {
  const random = seededRandom(seed);
  const seqs = new Array<number>(vehicles + 1).fill(0);
  const out: Buffer[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let v = 1; v <= vehicles; v++) {
      for (const msg of telemetryRound(random, v, r * 200)) {
        out.push(encodeFrame(msg, { sysid: v, compid: 1, seq: seqs[v]++ & 0xff }));
      }
    }
  }
  return out;
}

/** Concatenates packets and corrupts bytes at `rate`; returns the stream and which packets stayed intact. */
export function corrupt(packets: Buffer[], rate: number, seed: number): { stream: Buffer; intact: Buffer[] } {
  const random = seededRandom(seed);
  const stream = Buffer.concat(packets);
  const corrupted = new Uint8Array(stream.length);
  for (let i = 0; i < stream.length; i++) {
    if (random() < rate) {
      stream[i] = (stream[i]! + 1 + randomInt(random, 255)) & 0xff;
      corrupted[i] = 1;
    }
  }
  const intact: Buffer[] = [];
  let off = 0;
  for (const p of packets) {
    let ok = true;
    for (let i = off; i < off + p.length; i++) if (corrupted[i]) ok = false;
    if (ok) intact.push(stream.subarray(off, off + p.length));
    off += p.length;
  }
  return { stream, intact };
}

/** Counts output frames that equal an intact input packet (each input counted at most once). */
export function countRecovered(intact: Buffer[], recovered: Buffer[]): number {
  const pool = new Map<string, number>();
  for (const p of intact) pool.set(p.toString('latin1'), (pool.get(p.toString('latin1')) ?? 0) + 1);
  let n = 0;
  for (const r of recovered) {
    const key = r.toString('latin1');
    const c = pool.get(key);
    if (c) {
      pool.set(key, c - 1);
      n++;
    }
  }
  return n;
}

/** Feeds `stream` in radio-sized chunks (deterministic sizes 1..256) to a consumer. */
export function chunked(stream: Buffer, seed: number, feed: (chunk: Buffer) => void): void {
  const random = seededRandom(seed);
  for (let off = 0; off < stream.length; ) {
    const n = 1 + randomInt(random, 256);
    feed(stream.subarray(off, off + n));
    off += n;
  }
}

export function canopyFrames(stream: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  const framer = new Framer((f) => out.push(Buffer.from(f.raw)));
  chunked(stream, seed, (c) => framer.push(c));
  framer.flush();
  return out;
}

/** node-mavlink's MavLinkPacketSplitter on the same chunks (synchronous: it is a Transform). */
export function nodeMavlinkFrames(stream: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  const splitter = new MavLinkPacketSplitter();
  // The splitter pushes { buffer, timestamp } objects (object mode).
  splitter.on('data', (p: { buffer: Buffer }) => out.push(Buffer.from(p.buffer)));
  chunked(stream, seed, (c) => splitter.write(c));
  splitter.end();
  return out;
}

export interface RecoveryFigures {
  rate: number;
  packets: number;
  ideal: number;
  canopy: number;
  nodeMavlink: number;
  /** canopy / ideal */
  canopyVsIdeal: number;
  nodeMavlinkVsIdeal: number;
}

export function measureRecovery(packets: Buffer[], rate: number, seed: number): RecoveryFigures {
  const { stream, intact } = corrupt(packets, rate, seed);
  const canopy = countRecovered(intact, canopyFrames(stream, seed));
  const nm = countRecovered(intact, nodeMavlinkFrames(stream, seed));
  return {
    rate,
    packets: packets.length,
    ideal: intact.length,
    canopy,
    nodeMavlink: nm,
    canopyVsIdeal: intact.length ? canopy / intact.length : 1,
    nodeMavlinkVsIdeal: intact.length ? nm / intact.length : 1,
  };
}
