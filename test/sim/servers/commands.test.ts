/**
 * The simulated autopilot's command server (command.html) against real MAVLink frames: one
 * COMMAND_ACK per COMMAND_LONG or COMMAND_INT, to its sender; and ArduCopter's command set, on a
 * stand-in vehicle, with the results the firmware gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal, standard, type MavLinkData } from 'mavlink-mappings';
import { ARDUCOPTER_MODES } from '../../../firmware-bridge/vehicles/modes.ts';
import { ArduCopterCommands, CommandServer, FORCE_MAGIC, type CommandedVehicle } from '../../../sim/servers/commands.ts';
import { flush } from '../../helpers/nodes.ts';
import { GCS, serverRig, VEHICLE } from '../../helpers/server-rig.ts';

const C = common.MavCmd;
const { ACCEPTED, FAILED, DENIED, UNSUPPORTED } = common.MavResult;

function commandLong(command: number, params: number[] = [], targetSystem = VEHICLE.sysid): common.CommandLong {
  const m = new common.CommandLong();
  m.targetSystem = targetSystem;
  m.targetComponent = VEHICLE.compid;
  m.command = command;
  [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7] = Array.from({ length: 7 }, (_, i) => params[i] ?? 0);
  return m;
}

function commandInt(command: number, params: number[], frame: common.MavFrame): common.CommandInt {
  const m = new common.CommandInt();
  m.targetSystem = VEHICLE.sysid;
  m.targetComponent = VEHICLE.compid;
  m.command = command;
  m.frame = frame;
  [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7] = Array.from({ length: 7 }, (_, i) => params[i] ?? 0);
  return m;
}

test('COMMAND_LONG and COMMAND_INT: executed with their parameters (and COMMAND_INT\'s frame), one COMMAND_ACK each to the sender, tallied', async () => {
  const r = await serverRig();
  const executed: unknown[] = [];
  const server = new CommandServer(r.endpoint, (command, p, coordFrame) => {
    executed.push([command, p, coordFrame]);
    return command === C.NAV_LAND ? FAILED : ACCEPTED;
  });
  r.serve((m, frame) => server.handle(m, frame));
  await r.send(commandLong(C.DO_SET_MODE, [1, 4]));
  await r.send(commandInt(C.DO_REPOSITION, [-1, 1, 0, 0, 473_977_000, 85_455_000, 30], common.MavFrame.GLOBAL_RELATIVE_ALT_INT));
  await r.send(commandLong(C.NAV_LAND, [], 0));
  await r.send(commandLong(C.NAV_LAND, [], 7));
  assert.deepEqual(executed, [
    [C.DO_SET_MODE, [1, 4, 0, 0, 0, 0, 0], undefined],
    [C.DO_REPOSITION, [-1, 1, 0, 0, 473_977_000, 85_455_000, 30], common.MavFrame.GLOBAL_RELATIVE_ALT_INT],
    [C.NAV_LAND, [0, 0, 0, 0, 0, 0, 0], undefined],
  ], 'addressed to system 7: not executed; to every system (0): executed');
  assert.deepEqual(r.heard(common.CommandAck).map((a) => [a.command, a.result, a.targetSystem, a.targetComponent]), [
    [C.DO_SET_MODE, ACCEPTED, GCS.sysid, GCS.compid],
    [C.DO_REPOSITION, ACCEPTED, GCS.sysid, GCS.compid],
    [C.NAV_LAND, FAILED, GCS.sysid, GCS.compid],
  ]);
  assert.deepEqual([...server.acks], [[ACCEPTED, 2], [FAILED, 1]]);
});

/** A vehicle that does what it is told and remembers it. */
class StandInVehicle implements CommandedVehicle {
  armed = false;
  customMode: number = ARDUCOPTER_MODES.STABILIZE;
  copter = { onGround: true };
  mission: unknown[] = [];
  did: string[] = [];
  messages = new Map<number, MavLinkData>();
  arm(force: boolean): common.MavResult {
    this.did.push(`arm${force ? ' forced' : ''}`);
    this.armed = true;
    return ACCEPTED;
  }
  disarm(reason: string): void {
    this.did.push(`disarm: ${reason}`);
    this.armed = false;
  }
  setMode(mode: number, reason: string): boolean {
    this.did.push(`mode ${mode}: ${reason}`);
    this.customMode = mode;
    return true;
  }
  takeoff(altM: number): void {
    this.did.push(`takeoff ${altM}`);
  }
  flyTo(latDeg: number, lonDeg: number, altM: number | undefined): void {
    this.did.push(`fly to ${latDeg} ${lonDeg} ${altM}`);
  }
  setMessageInterval(msgid: number, intervalUs: number): common.MavResult {
    this.did.push(`interval ${msgid} ${intervalUs}`);
    return ACCEPTED;
  }
  build(id: number): MavLinkData | undefined {
    return this.messages.get(id);
  }
  reboot(): void {
    this.did.push('reboot');
  }
}

async function arducopterRig() {
  const r = await serverRig();
  const vehicle = new StandInVehicle();
  const commands = new ArduCopterCommands(vehicle, r.endpoint, r.clock);
  const server = new CommandServer(r.endpoint, (command, p, coordFrame) => commands.run(command, p, coordFrame));
  r.serve((m, frame) => server.handle(m, frame));
  /** The result of each command sent, in order. */
  const results = () => r.heard(common.CommandAck).map((a) => a.result);
  return { ...r, vehicle, results };
}

test('ArduCopter COMPONENT_ARM_DISARM: arm (forced with 21196); a param1 not 0 or 1 DENIED; no disarm in flight unless forced', async () => {
  const r = await arducopterRig();
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [1]));
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [2]));
  r.vehicle.copter.onGround = false;
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [0]));
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [0, FORCE_MAGIC]));
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [0]));
  await r.send(commandLong(C.COMPONENT_ARM_DISARM, [1, FORCE_MAGIC]));
  assert.deepEqual(r.results(), [ACCEPTED, DENIED, FAILED, ACCEPTED, ACCEPTED, ACCEPTED]);
  assert.deepEqual(r.vehicle.did, ['arm', 'disarm: Disarming motors', 'arm forced'], 'disarming a disarmed vehicle does nothing');
});

test('ArduCopter DO_SET_MODE needs the custom-mode flag; NAV_TAKEOFF only armed, in GUIDED, on the ground, above 0; RTL, LAND and MISSION_START by mode', async () => {
  const r = await arducopterRig();
  const { GUIDED, RTL, LAND, AUTO } = ARDUCOPTER_MODES as Record<string, number>;
  await r.send(commandLong(C.DO_SET_MODE, [0, GUIDED!]));
  await r.send(commandLong(C.NAV_TAKEOFF, [0, 0, 0, 0, 0, 0, 20]));
  await r.send(commandLong(C.DO_SET_MODE, [minimal.MavModeFlag.CUSTOM_MODE_ENABLED, GUIDED!]));
  r.vehicle.armed = true;
  await r.send(commandLong(C.NAV_TAKEOFF, [0, 0, 0, 0, 0, 0, 0]));
  await r.send(commandLong(C.NAV_TAKEOFF, [0, 0, 0, 0, 0, 0, 20]));
  await r.send(commandLong(C.MISSION_START));
  r.vehicle.mission = [{}, {}];
  await r.send(commandLong(C.MISSION_START));
  await r.send(commandLong(C.NAV_RETURN_TO_LAUNCH));
  await r.send(commandLong(C.NAV_LAND));
  assert.deepEqual(r.results(), [UNSUPPORTED, FAILED, ACCEPTED, FAILED, ACCEPTED, FAILED, ACCEPTED, ACCEPTED, ACCEPTED]);
  assert.deepEqual(r.vehicle.did, [`mode ${GUIDED}: Mode`, 'takeoff 20', `mode ${AUTO}: Mission start`, `mode ${RTL}: Command`, `mode ${LAND}: Command`]);
});

test('ArduCopter DO_REPOSITION: COMMAND_INT only, flying; outside GUIDED only with CHANGE_MODE (param2 bit 0)', async () => {
  const r = await arducopterRig();
  const frame = common.MavFrame.GLOBAL_RELATIVE_ALT_INT;
  const at = [-1, 0, 0, 0, 473_977_000, 85_455_000, 30];
  r.vehicle.armed = true;
  r.vehicle.copter.onGround = false;
  await r.send(commandLong(C.DO_REPOSITION, at));
  await r.send(commandInt(C.DO_REPOSITION, at, frame));
  await r.send(commandInt(C.DO_REPOSITION, [-1, 1, ...at.slice(2)], frame));
  assert.deepEqual(r.results(), [FAILED, FAILED, ACCEPTED]);
  assert.deepEqual(r.vehicle.did, [`mode ${ARDUCOPTER_MODES.GUIDED}: `, 'fly to 47.3977 8.5455 30']);
});

test('ArduCopter REQUEST_MESSAGE, AUTOPILOT_CAPABILITIES and GET_HOME_POSITION broadcast the message, FAILED when there is none; SET_MESSAGE_INTERVAL goes to the streams; unknown commands UNSUPPORTED', async () => {
  const r = await arducopterRig();
  const version = new standard.AutopilotVersion();
  version.capabilities = BigInt(standard.MavProtocolCapability.MAVLINK2) as unknown as standard.MavProtocolCapability;
  version.uid = 3n;
  r.vehicle.messages.set(standard.AutopilotVersion.MSG_ID, version);
  await r.send(commandLong(C.REQUEST_MESSAGE, [common.HomePosition.MSG_ID]));
  await r.send(commandLong(C.GET_HOME_POSITION));
  r.vehicle.messages.set(common.HomePosition.MSG_ID, new common.HomePosition());
  await r.send(commandLong(C.GET_HOME_POSITION));
  await r.send(commandLong(C.REQUEST_AUTOPILOT_CAPABILITIES, [1]));
  await r.send(commandLong(C.SET_MESSAGE_INTERVAL, [common.Attitude.MSG_ID, 200_000]));
  await r.send(commandLong(C.DO_FENCE_ENABLE, [1]));
  assert.deepEqual(r.results(), [FAILED, FAILED, ACCEPTED, ACCEPTED, ACCEPTED, UNSUPPORTED]);
  assert.equal(r.heard(common.HomePosition).length, 1);
  assert.equal(r.heard(standard.AutopilotVersion).length, 1);
  assert.deepEqual(r.vehicle.did, [`interval ${common.Attitude.MSG_ID} 200000`]);
});

test('ArduCopter PREFLIGHT_REBOOT_SHUTDOWN: only param1 1, refused armed; the ACK goes out, the reboot 200 ms later', async () => {
  const r = await arducopterRig();
  await r.send(commandLong(C.PREFLIGHT_REBOOT_SHUTDOWN, [2]));
  r.vehicle.armed = true;
  await r.send(commandLong(C.PREFLIGHT_REBOOT_SHUTDOWN, [1]));
  r.vehicle.armed = false;
  await r.send(commandLong(C.PREFLIGHT_REBOOT_SHUTDOWN, [1]));
  assert.deepEqual(r.results(), [UNSUPPORTED, FAILED, ACCEPTED]);
  assert.deepEqual(r.vehicle.did, [], 'not yet');
  r.clock.advance(200);
  await flush();
  assert.deepEqual(r.vehicle.did, ['reboot']);
});
