/**
 * StreamKeeper: telemetry on request, against a scripted autopilot that streams only what it is
 * asked for (SET_MESSAGE_INTERVAL, REQUEST_DATA_STREAM) plus what the test says it streams unasked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ardupilotmega, common, minimal, type MavLinkData } from 'mavlink-mappings';
import { ManualClock, settle } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { StreamKeeper, VehicleManager, type Vehicle } from '../../../firmware-bridge/vehicles/index.ts';
import { decodeFrame, frameFromRaw } from '../../../firmware-bridge/protocol/frame.ts';
import { MavParamError, ParamError } from '../../../firmware-bridge/protocol/wip.ts';
import { tlogRecord, TlogReplayLink } from '../../../firmware-bridge/tlog.ts';
import { STREAM_RATES } from '../../../controller/telemetry.ts';
import { recordedMessages } from '../../helpers/fixtures.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';

const RATES = { [common.GlobalPositionInt.MSG_ID]: 1, [common.SysStatus.MSG_ID]: 1, [ardupilotmega.Wind.MSG_ID]: 0.1, [common.Attitude.MSG_ID]: 0 };
const SET_INTERVAL = common.MavCmd.SET_MESSAGE_INTERVAL;

/** The messages the scripted autopilot can stream, by id. */
function make(id: number, bootMs: number): MavLinkData | undefined {
  if (id === common.GlobalPositionInt.MSG_ID) {
    const m = new common.GlobalPositionInt();
    m.timeBootMs = bootMs;
    m.lat = 474_000_000;
    m.lon = 85_000_000;
    m.hdg = 65535;
    return m;
  }
  if (id === common.SysStatus.MSG_ID) {
    const m = new common.SysStatus();
    m.currentBattery = -1;
    m.batteryRemaining = -1;
    return m;
  }
  if (id === common.RawImu.MSG_ID) {
    const m = new common.RawImu();
    m.timeUsec = BigInt(bootMs) * 1000n;
    return m;
  }
  if (id === common.Attitude.MSG_ID) {
    const m = new common.Attitude();
    m.timeBootMs = bootMs;
    return m;
  }
  return undefined;
}

async function rig(opts: { px4?: boolean; unasked?: Record<number, number>; rates?: Record<number, number> } = {}) {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair('ground', 'air');
  const gcs = new MavlinkNode({ clock, sysid: 255, compid: 190, heartbeatHz: 0 });
  gcs.addLink(ground);
  const drone = new ScriptedAutopilot(clock, air, 1);
  if (opts.px4) drone.autopilot = minimal.MavAutopilot.PX4;
  await ground.start();
  await air.start();
  /** What the autopilot streams now: message id → Hz (a saved stream group streams unasked). */
  const streaming = new Map<number, number>(Object.entries(opts.unasked ?? {}).map(([id, hz]) => [Number(id), hz]));
  /** Messages whose SET_MESSAGE_INTERVAL it ACKs and ignores (as when a saved stream group re-arms them); `all` ignores every one. */
  const ignored = new Set<number>();
  const obey = { all: true };
  drone.commandScript = (cmd) => {
    if (cmd.command === SET_INTERVAL && obey.all && !ignored.has((cmd as common.CommandLong)._param1)) {
      const us = (cmd as common.CommandLong)._param2;
      if (us < 0) streaming.delete((cmd as common.CommandLong)._param1);
      else streaming.set((cmd as common.CommandLong)._param1, 1e6 / us);
    }
    return [common.MavResult.ACCEPTED];
  };
  const vehicles = new VehicleManager(gcs);
  vehicles.start();
  const keeper = new StreamKeeper(gcs, vehicles, { rates: opts.rates ?? RATES });
  const requested: string[] = [];
  keeper.on('requested', (_v, why) => requested.push(why));
  keeper.start();
  const start = clock.now();
  let bootAt = start;
  let heartbeats = true;
  /** Runs the world in 100 ms steps: a HEARTBEAT a second, each stream at its rate. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      const now = clock.now();
      if (heartbeats && (now - start) % 1000 === 0) drone.heartbeat();
      for (const [id, hz] of streaming) {
        const every = Math.max(100, Math.round(1000 / hz / 100) * 100);
        if ((now - start) % every === 0) {
          const m = make(id, now - bootAt);
          if (m) drone.send(m);
        }
      }
      clock.advance(100);
      await settle();
      await settle();
    }
  };
  const sent = <T extends MavLinkData>(type: new () => T) => drone.received.filter((m): m is T => m instanceof type);
  const intervals = () => sent(common.CommandLong).filter((c) => c.command === SET_INTERVAL).map((c) => [c._param1, c._param2]);
  return {
    clock, drone, keeper, vehicles, streaming, ignored, obey, requested, run, sent, intervals,
    vehicle: (): Vehicle => vehicles.list()[0]!,
    reboot: () => (bootAt = clock.now()),
    silence: (on: boolean) => (heartbeats = !on),
  };
}

test('ArduPilot: saved stream groups off first, then each message by its interval, with what readiness needs', async () => {
  const r = await rig();
  await r.run(3000);
  const rds = r.sent(common.RequestDataStream);
  assert.equal(rds.length, 1);
  assert.deepEqual([rds[0]!.reqStreamId, rds[0]!.startStop], [common.MavDataStream.ALL, 0], 'REQUEST_DATA_STREAM(ALL, stop)');
  const first = r.drone.received.findIndex((m) => m instanceof common.RequestDataStream);
  const firstInterval = r.drone.received.findIndex((m) => m instanceof common.CommandLong && m.command === SET_INTERVAL);
  assert.ok(first < firstInterval, 'groups stopped before the intervals are set (stopping resets them)');
  assert.deepEqual(new Map(r.intervals() as [number, number][]), new Map([
    [33, 1e6], [1, 1e6], [168, 1e7], [30, -1],
    [ardupilotmega.EkfStatusReport.MSG_ID, 5e6], [common.HomePosition.MSG_ID, 1e7],
  ]), 'no WIND_COV: ArduPilot has none to switch off');
  assert.deepEqual(r.requested, ['found']);
  assert.ok(r.vehicle().lastPositionMs !== undefined, 'the position streams once asked');
});

test('PX4: no stream groups to stop; WIND_COV asked in place of WIND', async () => {
  const r = await rig({ px4: true });
  await r.run(3000);
  assert.equal(r.sent(common.RequestDataStream).length, 0);
  const ids = r.intervals().map(([id]) => id);
  assert.ok(ids.includes(common.WindCov.MSG_ID));
  assert.ok(!ids.includes(ardupilotmega.Wind.MSG_ID));
  assert.ok(!ids.includes(ardupilotmega.EkfStatusReport.MSG_ID));
});

test('a message streamed unasked is switched off by its own interval; the rest goes on', async () => {
  const r = await rig({ unasked: { [common.RawImu.MSG_ID]: 10 } });
  await r.run(8000);
  const off = r.intervals().filter(([id]) => id === common.RawImu.MSG_ID);
  assert.deepEqual(off, [[common.RawImu.MSG_ID, -1]]);
  assert.equal(r.streaming.has(common.RawImu.MSG_ID), false);
  assert.deepEqual(r.keeper.stats(r.vehicle())?.switchedOff, [common.RawImu.MSG_ID]);
  assert.equal(r.sent(common.RequestDataStream).length, 1, 'no whole group stopped for one message');
  assert.ok(r.streaming.has(33) && r.streaming.has(1), 'position and status still stream');
});

test('a switch-off that does not take is sent again, at most three times a request', async () => {
  const r = await rig({ unasked: { [common.RawImu.MSG_ID]: 10 } });
  r.ignored.add(common.RawImu.MSG_ID);
  await r.run(30_000);
  const off = r.intervals().filter(([id, us]) => id === common.RawImu.MSG_ID && us === -1);
  assert.equal(off.length, 3);
});

test('a message at more than twice its asked rate is asked again', async () => {
  const r = await rig();
  await r.run(3000);
  r.ignored.add(33);
  r.streaming.set(33, 10); // something else set it to 10 Hz
  await r.run(15_000);
  const again = r.intervals().filter(([id]) => id === 33);
  assert.ok(again.length >= 2, `GLOBAL_POSITION_INT set again (${again.length} times)`);
  assert.equal(again.at(-1)![1], 1e6);
});

test('telemetry that stops while HEARTBEATs come is asked for again, less and less often', async () => {
  const r = await rig();
  await r.run(5000);
  r.streaming.clear(); // as a rebooted ArduCopter that has not yet been heard to reboot: HEARTBEATs only
  r.obey.all = false; // and it stays silent however often asked
  const before = r.requested.length;
  const at: number[] = [];
  r.keeper.on('requested', () => at.push(r.clock.now()));
  await r.run(80_000);
  assert.ok(r.requested.length - before >= 3, `asked again (${r.requested.length - before} times)`);
  assert.ok(r.requested.slice(before).every((w) => w === 'telemetry stopped'));
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1]!) && gaps.at(-1)! > gaps[0]!, `the gaps grow: ${gaps.join(', ')} ms`);
});

test('a rebooted autopilot streaming again from zero is asked again', async () => {
  const r = await rig();
  await r.run(12_000);
  r.reboot();
  await r.run(3000);
  assert.deepEqual(r.requested, ['found', 'rebooted']);
  assert.equal(r.vehicle().reboots, 1);
  assert.equal(r.sent(common.RequestDataStream).length, 2, 'saved groups stopped again after the reboot');
});

test('firmware without SET_MESSAGE_INTERVAL: the stream group is asked instead; silence is retried, never a group', async () => {
  const unsupported = await rig();
  unsupported.drone.commandScript = () => [common.MavResult.UNSUPPORTED];
  await unsupported.run(3000);
  const groups = unsupported.sent(common.RequestDataStream).map((m) => [m.reqStreamId, m.reqMessageRate, m.startStop]);
  assert.deepEqual(groups[0], [common.MavDataStream.ALL, 0, 0]);
  assert.ok(groups.some(([id, hz, on]) => id === common.MavDataStream.POSITION && hz === 1 && on === 1), 'POSITION group for GLOBAL_POSITION_INT');
  assert.ok(groups.some(([id, hz, on]) => id === common.MavDataStream.EXTENDED_STATUS && hz === 1 && on === 1), 'EXTENDED_STATUS group for SYS_STATUS');

  const silent = await rig();
  silent.drone.commandScript = () => [];
  // Each message is tried three times, 1.5 s apart, before the next: a silent autopilot's request takes half a minute.
  await silent.run(60_000);
  const rds = silent.sent(common.RequestDataStream);
  assert.ok(rds.length >= 1 && rds.every((m) => m.reqStreamId === common.MavDataStream.ALL && m.startStop === 0), 'groups only ever stopped, none started on silence');
  const positionAsks = silent.intervals().filter(([id]) => id === 33).length;
  assert.ok(positionAsks >= 5, `GLOBAL_POSITION_INT asked again after no answer (${positionAsks} sends)`);
});

test('what arrives is measured in frames and bytes a second', async () => {
  const r = await rig();
  await r.run(20_000);
  const s = r.keeper.stats(r.vehicle())!;
  // A HEARTBEAT, GLOBAL_POSITION_INT and SYS_STATUS a second, COMMAND_ACKs only at the start.
  // The window includes the second under way, so a little under three.
  assert.ok(s.framesPerS >= 2.5 && s.framesPerS < 4, `${s.framesPerS} frames/s`);
  assert.ok(s.bytesPerS > 60 && s.bytesPerS < 200, `${s.bytesPerS} bytes/s`);
  assert.equal(s.requests, 1);
});

test('what is not a stream is not switched off: an event sent twice (GPS_GLOBAL_ORIGIN), answers (PARAM_ERROR); a steady one is', async () => {
  const r = await rig({ unasked: { [common.RawImu.MSG_ID]: 0.5 } });
  await r.run(3000);
  const origin = () => {
    const m = new common.GpsGlobalOrigin();
    m.latitude = 474_000_000;
    r.drone.send(m);
  };
  origin(); // the EKF's origin set
  for (let i = 0; i < 4; i++) {
    const e = new ParamError();
    e.paramId = 'SYSID_THISMAV';
    e.paramIndex = -1;
    e.error = MavParamError.DOES_NOT_EXIST;
    r.drone.send(e); // the answers to a read and its retries
    await r.run(1000);
  }
  await r.run(20_000);
  origin(); // and again at arming
  await r.run(10_000);
  const off = r.intervals().filter(([, us]) => us === -1).map(([id]) => id);
  assert.deepEqual(off.filter((id) => id !== common.Attitude.MSG_ID), [common.RawImu.MSG_ID], 'RAW_IMU every 2 s is a stream');
});

test('a switch-off the firmware refuses (ArduPilot: DENIED, no ap_message for the id) is not sent again', async () => {
  const r = await rig({ unasked: { [common.RawImu.MSG_ID]: 10 } });
  const obeying = r.drone.commandScript;
  r.drone.commandScript = (cmd, attempt) => (cmd.command === SET_INTERVAL && (cmd as common.CommandLong)._param1 === common.RawImu.MSG_ID ? [common.MavResult.DENIED] : obeying(cmd, attempt));
  await r.run(30_000);
  assert.equal(r.intervals().filter(([id]) => id === common.RawImu.MSG_ID).length, 1);
  assert.deepEqual(r.keeper.stats(r.vehicle())?.switchedOff, [], 'it was not switched off');
});

/**
 * A recorded SITL session's vehicle frames played to a ground station with a StreamKeeper, at
 * their recorded times on the simulated clock; what the keeper asks to switch off.
 */
async function replayKeeper(rel: string): Promise<{ off: number[]; asked: number[] }> {
  const records = recordedMessages(rel).filter((r) => r.frame.sysid === 1);
  const tlog = Buffer.concat(records.map((r) => tlogRecord(r.atMs, r.frame.raw)));
  const clock = new ManualClock();
  const link = new TlogReplayLink(tlog, clock, 1);
  const gcs = new MavlinkNode({ clock, sysid: 255, compid: 190, heartbeatHz: 0 });
  gcs.addLink(link);
  const intervals: [number, number][] = [];
  gcs.on('sent', (raw: Buffer) => {
    const m = decodeFrame(frameFromRaw(raw));
    if (m instanceof common.CommandLong && m.command === SET_INTERVAL) intervals.push([m._param1, m._param2]);
  });
  const vehicles = new VehicleManager(gcs);
  vehicles.start();
  const keeper = new StreamKeeper(gcs, vehicles, { rates: STREAM_RATES });
  keeper.start();
  await link.start();
  const endMs = clock.now() + records.at(-1)!.atMs + 1000;
  while (clock.now() < endMs) {
    clock.advance(100);
    await settle();
    await settle();
  }
  keeper.stop();
  await link.stop();
  return { off: [...new Set(intervals.filter(([, us]) => us === -1).map(([id]) => id))].sort((a, b) => a - b), asked: intervals.map(([id]) => id) };
}

test('recorded ArduCopter 4.8 session: neither its PARAM_ERRORs, nor GPS_GLOBAL_ORIGIN, nor WIND_COV (which it lacks) are asked to be switched off', async () => {
  const { off, asked } = await replayKeeper('mavlink/arducopter-sitl.tlog');
  for (const id of [ParamError.MSG_ID, common.GpsGlobalOrigin.MSG_ID, common.WindCov.MSG_ID]) assert.ok(!asked.includes(id), `message ${id} left alone`);
  // What it does switch off: ATTITUDE and BATTERY_STATUS, which Canopy does not read.
  assert.deepEqual(off, [common.Attitude.MSG_ID, common.BatteryStatus.MSG_ID]);
});

test('recorded PX4 session: MISSION_CURRENT, which it streams unasked all along, is switched off; its one GPS_GLOBAL_ORIGIN is not', async () => {
  // (The other streams PX4's link sent unasked stopped in the recording when the recorder's keeper
  // switched them off, before this keeper's own request is done; a replay does not obey.)
  const { off, asked } = await replayKeeper('mavlink/px4-sitl.tlog');
  assert.ok(off.includes(common.MissionCurrent.MSG_ID));
  assert.ok(!asked.includes(common.GpsGlobalOrigin.MSG_ID));
  assert.deepEqual(off.filter((id) => id !== common.MissionCurrent.MSG_ID), [common.Attitude.MSG_ID, common.BatteryStatus.MSG_ID], 'and the two Canopy asks off');
});
