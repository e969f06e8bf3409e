/**
 * Telemetry rates. MAV_CMD_SET_MESSAGE_INTERVAL (511) sets one message's interval in µs
 * (-1 stops it, 0 restores the default) — mavlink.io/en/services/telemetry.html... "Requesting
 * messages". Older ArduPilot (before 4.0) and some companions only know REQUEST_DATA_STREAM (66),
 * which sets the rate of a whole stream group; the client falls back to it when the command is
 * UNSUPPORTED, or not acknowledged at all.
 *
 * Radio budget: 57,600 baud ≈ 144 average frames/s for the swarm, about 6 per drone at 25 drones,
 * so rates are set per drone and per message.
 */
import { common } from 'mavlink-mappings';
import type { MessagePort } from '../../node.ts';
import { CommandSender, type CommandOptions, type CommandResult } from '../command/command.ts';

/** ArduPilot's stream groups (GCS_MAVLINK::stream_entries) for the messages Canopy reads. */
export const DATA_STREAM_OF: Record<number, common.MavDataStream> = {
  1: common.MavDataStream.EXTENDED_STATUS, // SYS_STATUS
  24: common.MavDataStream.EXTENDED_STATUS, // GPS_RAW_INT
  33: common.MavDataStream.POSITION, // GLOBAL_POSITION_INT
  30: common.MavDataStream.EXTRA1, // ATTITUDE
  74: common.MavDataStream.EXTRA2, // VFR_HUD
  147: common.MavDataStream.EXTRA3, // BATTERY_STATUS
  242: common.MavDataStream.EXTRA3, // HOME_POSITION is sent on request; grouped as ArduPilot does
};

export type IntervalResult = { ok: true; via: 'set-message-interval' | 'request-data-stream' } | { ok: false; reason: 'denied' | 'timeout' | 'no-stream-group'; detail: string };

export class IntervalClient {
  private readonly commands: CommandSender;

  constructor(
    private readonly port: MessagePort,
    private readonly opts: CommandOptions = {},
  ) {
    // A refused interval needs no STATUSTEXT reason waited for (ArduPilot's SITL-only "No ap_message" is INFO).
    this.commands = new CommandSender(port, { explainMs: 0, ...opts });
  }

  /**
   * Sets `msgid` to `hz` (0: stop). `fallback` says when to fall back to REQUEST_DATA_STREAM,
   * which sets a whole group: 'unsupported-or-silent' (default: an autopilot that predates the
   * command either answers UNSUPPORTED or nothing), 'unsupported' (on a busy shared radio silence
   * is a lost frame, not an old firmware: the caller asks again), or 'never' (to stop one message
   * without stopping the others of its group).
   */
  async setRate(msgid: number, hz: number, opts: { fallback?: 'unsupported-or-silent' | 'unsupported' | 'never' } = {}): Promise<IntervalResult> {
    const intervalUs = hz > 0 ? Math.round(1e6 / hz) : -1;
    const r: CommandResult = await this.commands.sendLong({ command: common.MavCmd.SET_MESSAGE_INTERVAL, params: [msgid, intervalUs] }, this.opts);
    if (r.ok) return { ok: true, via: 'set-message-interval' };
    if (r.reason === 'denied' || r.reason === 'failed') return { ok: false, reason: 'denied', detail: r.detail };
    // UNSUPPORTED or silence: an autopilot that predates the command.
    const fallback = opts.fallback ?? 'unsupported-or-silent';
    if (fallback === 'never' || (fallback === 'unsupported' && r.reason === 'timeout')) return { ok: false, reason: r.reason === 'timeout' ? 'timeout' : 'denied', detail: r.detail };
    const stream = DATA_STREAM_OF[msgid];
    if (stream === undefined) return { ok: false, reason: 'no-stream-group', detail: `message ${msgid} has no REQUEST_DATA_STREAM group to fall back to` };
    this.requestDataStream(stream, hz);
    return { ok: true, via: 'request-data-stream' };
  }

  /** REQUEST_DATA_STREAM has no acknowledgement: the rate shows in the telemetry that follows. */
  requestDataStream(stream: common.MavDataStream, hz: number): void {
    const m = new common.RequestDataStream();
    m.targetSystem = this.port.target.sysid;
    m.targetComponent = this.port.target.compid;
    m.reqStreamId = stream;
    m.reqMessageRate = Math.max(0, Math.round(hz));
    m.startStop = hz > 0 ? 1 : 0;
    this.port.send(m);
  }

  /** Sets several rates one after another (commands first on a busy radio: they are small). */
  async setRates(rates: Record<number, number>): Promise<Map<number, IntervalResult>> {
    const out = new Map<number, IntervalResult>();
    for (const [id, hz] of Object.entries(rates)) out.set(Number(id), await this.setRate(Number(id), hz));
    return out;
  }
}
