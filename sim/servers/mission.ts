/**
 * The simulated autopilot's mission server: the vehicle side of the mission protocol
 * (https://mavlink.io/en/services/mission.html), for the mission (MAV_MISSION_TYPE_MISSION) in the
 * MISSION_ITEM_INT form, as ArduPilot serves it.
 *  upload:   MISSION_COUNT → we ask MISSION_REQUEST_INT(seq) → the GCS answers MISSION_ITEM_INT(seq)
 *            → … → we send MISSION_ACK. A request unanswered is sent again (spec "Timeouts and
 *            retries"), and after the last retry the upload is cancelled.
 *  download: MISSION_REQUEST_LIST → we send MISSION_COUNT → the GCS asks MISSION_REQUEST_INT(seq)
 *            (or the legacy MISSION_REQUEST) → we send MISSION_ITEM_INT(seq) → … → its MISSION_ACK.
 *  progress: MISSION_SET_CURRENT, MISSION_CURRENT, MISSION_ITEM_REACHED; MISSION_CLEAR_ALL.
 * Item 0 is home, as ArduPilot keeps it: a clear leaves it.
 */
import { common } from 'mavlink-mappings';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { newMessage, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import type { ServerEndpoint } from './endpoint.ts';

/** How long the vehicle waits for an item it asked for before asking again, and how often it asks. */
const MISSION_REQUEST_RESEND_MS = 1500;
const MISSION_REQUEST_TRIES = 5;

/** Who a message goes back to: the system and component that started the transfer. */
type Peer = Pick<Frame, 'sysid' | 'compid'>;

interface Upload extends Peer {
  count: number;
  items: common.MissionItemInt[];
  tries: number;
  lastRequestMs: number;
}

export class MissionServer {
  /** The mission as stored, home (item 0) first. */
  items: common.MissionItemInt[] = [];
  /** The item being flown (MISSION_CURRENT's seq). */
  current = 0;
  private upload: Upload | undefined;

  constructor(
    private readonly endpoint: ServerEndpoint,
    private readonly clock: Clock,
  ) {}

  /**
   * Handles a mission protocol message; false for any other message. Mission messages are
   * answered only when addressed to this vehicle; a broadcast one (target 0) is ignored.
   */
  handle(m: unknown, frame: Frame): boolean {
    if (m instanceof common.MissionCount) {
      if (this.forUs(m)) this.count(m, frame);
    } else if (m instanceof common.MissionItemInt) {
      if (this.forUs(m)) this.item(m, frame);
    } else if (m instanceof common.MissionRequestList) {
      if (this.forUs(m)) this.endpoint.sendTo(this.countMessage(frame), frame.sysid);
    } else if (m instanceof common.MissionRequestInt || m instanceof common.MissionRequest) {
      if (this.forUs(m)) this.sendItem(m.seq, frame);
    } else if (m instanceof common.MissionClearAll) {
      if (this.forUs(m)) {
        this.items = this.items.slice(0, 1);
        this.current = 0;
        this.ack(frame, common.MavMissionResult.ACCEPTED);
      }
    } else if (m instanceof common.MissionSetCurrent) {
      // An item beyond the mission is ignored.
      if (this.forUs(m) && m.seq < this.items.length) {
        this.current = m.seq;
        this.sendCurrent();
      }
    } else return false;
    return true;
  }

  /** Asks again for an upload's item when the GCS has not answered in time. */
  tick(now: number): void {
    const u = this.upload;
    if (!u || now - u.lastRequestMs < MISSION_REQUEST_RESEND_MS) return;
    if (++u.tries > MISSION_REQUEST_TRIES) {
      // Out of retries: the upload is cancelled, and the GCS told so.
      this.upload = undefined;
      this.ack(u, common.MavMissionResult.OPERATION_CANCELLED);
      return;
    }
    this.request(u.items.length);
  }

  /** The current item is done: MISSION_ITEM_REACHED for it, then MISSION_CURRENT for the next. */
  reached(): void {
    if (this.items[this.current]) {
      const reached = newMessage(common.MissionItemReached);
      reached.seq = this.current;
      this.endpoint.broadcast(reached);
    }
    this.current++;
    this.sendCurrent();
  }

  /** MISSION_CURRENT: the item being flown, and the last item's seq. */
  currentMessage(): common.MissionCurrent {
    const m = newMessage(common.MissionCurrent);
    m.seq = this.current;
    m.total = Math.max(0, this.items.length - 1);
    return m;
  }

  sendCurrent(): void {
    this.endpoint.broadcast(this.currentMessage());
  }

  private forUs(m: { targetSystem: number }): boolean {
    return m.targetSystem === this.endpoint.sysid;
  }

  private ack(to: Peer, type: common.MavMissionResult): void {
    const ack = newMessage(common.MissionAck);
    ack.targetSystem = to.sysid;
    ack.targetComponent = to.compid;
    ack.type = type;
    ack.missionType = common.MavMissionType.MISSION;
    this.endpoint.sendTo(ack, to.sysid);
  }

  private count(m: common.MissionCount, frame: Frame): void {
    // Only the mission is stored: fences and rally points are refused.
    if (m.missionType !== common.MavMissionType.MISSION) return this.ack(frame, common.MavMissionResult.UNSUPPORTED);
    if (m.count === 0) {
      this.items = [];
      return this.ack(frame, common.MavMissionResult.ACCEPTED);
    }
    this.upload = { count: m.count, items: [], sysid: frame.sysid, compid: frame.compid, tries: 0, lastRequestMs: 0 };
    this.request(0);
  }

  private request(seq: number): void {
    const u = this.upload;
    if (!u) return;
    const r = newMessage(common.MissionRequestInt);
    r.targetSystem = u.sysid;
    r.targetComponent = u.compid;
    r.seq = seq;
    r.missionType = common.MavMissionType.MISSION;
    u.lastRequestMs = this.clock.now();
    this.endpoint.sendTo(r, u.sysid);
  }

  private item(m: common.MissionItemInt, frame: Frame): void {
    const u = this.upload;
    if (!u || frame.sysid !== u.sysid) return;
    if (m.seq !== u.items.length) {
      // A repeat of an item we have, or one ahead of the one we asked for: ask again for ours.
      return this.request(u.items.length);
    }
    u.items.push(m);
    u.tries = 0;
    if (u.items.length < u.count) return this.request(u.items.length);
    // The last item: the upload is complete and replaces the stored mission.
    this.upload = undefined;
    this.items = u.items;
    this.current = Math.min(this.current, this.items.length);
    this.ack(frame, common.MavMissionResult.ACCEPTED);
  }

  private countMessage(frame: Frame): common.MissionCount {
    const c = newMessage(common.MissionCount);
    c.targetSystem = frame.sysid;
    c.targetComponent = frame.compid;
    c.count = this.items.length;
    c.missionType = common.MavMissionType.MISSION;
    return c;
  }

  private sendItem(seq: number, frame: Frame): void {
    const item = this.items[seq];
    if (!item) return this.ack(frame, common.MavMissionResult.INVALID_SEQUENCE);
    const copy = Object.assign(newMessage(common.MissionItemInt), item);
    copy.targetSystem = frame.sysid;
    copy.targetComponent = frame.compid;
    copy.current = seq === this.current ? 1 : 0;
    this.endpoint.sendTo(copy, frame.sysid);
  }
}
