/**
 * A minimal scripted MAVLink peer for microservice tests: it answers commands with whatever the
 * test scripts, serves a parameter table and the mission protocol, and answers TIMESYNC. The full
 * ArduCopter behaviour lives in sim/; this one exists so each protocol can be driven to its edges.
 */
import { common, minimal, type MavLinkData } from 'mavlink-mappings';
import type { Channel } from '../../firmware-bridge/channel.ts';
import type { Clock } from '../../firmware-bridge/clock.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';

/** What to do with one received command: reply with these ACK results in order (empty: stay silent). */
export type CommandScript = (cmd: common.CommandLong | common.CommandInt, attempt: number) => common.MavResult[];

export class ScriptedAutopilot {
  readonly node: MavlinkNode;
  readonly channel: Channel;
  readonly received: MavLinkData[] = [];
  commandScript: CommandScript = () => [common.MavResult.ACCEPTED];
  /** Ignore commands sent to target_system 0. */
  ignoreBroadcast = false;
  /** The HEARTBEAT's autopilot field (PX4 for PX4's flavour). */
  autopilot: minimal.MavAutopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  /**
   * PX4's parameter server: a PARAM_SET whose type is not the parameter's own is refused
   * ("param types mismatch") and gets no PARAM_VALUE echo.
   */
  strictParamTypes = false;
  params = new Map<string, { value: number; type: common.MavParamType }>();
  /** Parameter indices whose PARAM_VALUE is dropped on the first request (list). */
  dropParamIndices = new Set<number>();
  mission: common.MissionItemInt[] = [];
  /** Clock offset in ns the peer's TIMESYNC answers carry. */
  timeOffsetNs = 0n;
  private readonly attempts = new Map<number, number>();
  private missionIncoming?: { count: number; items: common.MissionItemInt[] };

  constructor(clock: Clock, link: Link, readonly sysid: number) {
    this.node = new MavlinkNode({ clock, sysid, compid: 1, heartbeatHz: 0 });
    this.channel = this.node.addLink(link);
    this.node.on('message', ({ message }) => this.onMessage(message));
  }

  heartbeat(customMode = 4): void {
    const hb = new minimal.Heartbeat();
    hb.type = minimal.MavType.QUADROTOR;
    hb.autopilot = this.autopilot;
    hb.baseMode = minimal.MavModeFlag.CUSTOM_MODE_ENABLED;
    hb.customMode = customMode;
    hb.systemStatus = minimal.MavState.STANDBY;
    hb.mavlinkVersion = 3;
    this.send(hb);
  }

  send(msg: MavLinkData): void {
    this.channel.send(msg, this.node);
  }

  private forMe(targetSystem: number): boolean {
    return targetSystem === this.sysid || (targetSystem === 0 && !this.ignoreBroadcast);
  }

  private onMessage(m: MavLinkData): void {
    this.received.push(m);
    if (m instanceof common.CommandLong || m instanceof common.CommandInt) {
      if (!this.forMe(m.targetSystem)) return;
      const attempt = this.attempts.get(m.command) ?? 0;
      this.attempts.set(m.command, attempt + 1);
      for (const result of this.commandScript(m, attempt)) {
        const ack = new common.CommandAck();
        ack.command = m.command;
        ack.result = result;
        ack.progress = result === common.MavResult.IN_PROGRESS ? 50 : 0;
        ack.targetSystem = 255;
        ack.targetComponent = 190;
        this.send(ack);
      }
    } else if (m instanceof common.ParamRequestList && this.forMe(m.targetSystem)) {
      [...this.params.keys()].forEach((name, i) => {
        if (!this.dropParamIndices.has(i)) this.sendParam(name, i);
      });
      this.dropParamIndices.clear();
    } else if (m instanceof common.ParamRequestRead && this.forMe(m.targetSystem)) {
      const names = [...this.params.keys()];
      const name = m.paramIndex >= 0 ? names[m.paramIndex] : m.paramId;
      if (name !== undefined && this.params.has(name)) this.sendParam(name, names.indexOf(name));
    } else if (m instanceof common.ParamSet && this.forMe(m.targetSystem)) {
      const p = this.params.get(m.paramId);
      if (p && this.strictParamTypes && m.paramType !== p.type) return;
      if (p && !m.paramId.startsWith('RO_')) p.value = m.paramValue;
      if (p) this.sendParam(m.paramId, [...this.params.keys()].indexOf(m.paramId));
    } else if (m instanceof common.MissionRequestList && this.forMe(m.targetSystem)) {
      const c = new common.MissionCount();
      c.targetSystem = 255;
      c.targetComponent = 190;
      c.count = this.mission.length;
      c.missionType = m.missionType;
      this.send(c);
    } else if (m instanceof common.MissionRequestInt && this.forMe(m.targetSystem)) {
      const item = this.mission[m.seq];
      if (item) this.send(item);
    } else if (m instanceof common.MissionCount && this.forMe(m.targetSystem)) {
      this.missionIncoming = { count: m.count, items: [] };
      this.requestItem(0);
    } else if (m instanceof common.MissionItemInt && this.forMe(m.targetSystem) && this.missionIncoming) {
      const inc = this.missionIncoming;
      if (m.seq === inc.items.length) inc.items.push(m);
      if (inc.items.length < inc.count) this.requestItem(inc.items.length);
      else {
        this.mission = inc.items;
        const ack = new common.MissionAck();
        ack.targetSystem = 255;
        ack.targetComponent = 190;
        ack.type = common.MavMissionResult.ACCEPTED;
        this.send(ack);
      }
    } else if (m instanceof common.TimeSync && m.tc1 === 0n) {
      const reply = new common.TimeSync();
      reply.tc1 = BigInt(Math.round(this.node.clock.now() * 1e6)) + this.timeOffsetNs;
      reply.ts1 = m.ts1;
      this.send(reply);
    }
  }

  private requestItem(seq: number): void {
    const r = new common.MissionRequestInt();
    r.targetSystem = 255;
    r.targetComponent = 190;
    r.seq = seq;
    this.send(r);
  }

  private sendParam(name: string, index: number): void {
    const p = this.params.get(name)!;
    const v = new common.ParamValue();
    v.paramId = name;
    v.paramValue = p.value;
    v.paramType = p.type;
    v.paramCount = this.params.size;
    v.paramIndex = index;
    this.send(v);
  }
}
