/**
 * Mission protocol (mavlink.io/en/services/mission.html), the ground side.
 *  upload:   MISSION_COUNT → vehicle asks MISSION_REQUEST_INT(seq) (or legacy MISSION_REQUEST)
 *            → we answer MISSION_ITEM_INT(seq) → … → vehicle sends MISSION_ACK.
 *  download: MISSION_REQUEST_LIST → MISSION_COUNT → we ask MISSION_REQUEST_INT(seq) →
 *            MISSION_ITEM_INT(seq) → … → we send MISSION_ACK.
 * On a timeout the last message is sent again (spec "Timeouts and retries"); requests for an item
 * already sent are answered again (the vehicle's resend after our item was lost); items that
 * arrive out of order are ignored and the expected one is requested again. Default timeout and
 * retries follow MAVSDK's MavlinkMissionTransferClient (item timeout scaled for a radio link).
 */
import { common } from 'mavlink-mappings';
import type { MavLinkData } from 'mavlink-mappings';
import type { MessagePort } from '../../node.ts';

export interface MissionItem {
  command: common.MavCmd;
  frame: common.MavFrame;
  params?: [number?, number?, number?, number?];
  /** Degrees (converted to 1e7 integers) for global frames. */
  latDeg: number;
  lonDeg: number;
  altM: number;
  autocontinue?: boolean;
}

export type MissionFailure = 'timeout' | 'rejected' | 'cancelled';
export type MissionUploadResult = { ok: true; items: number } | { ok: false; reason: MissionFailure; detail: string; result?: common.MavMissionResult };
export type MissionDownloadResult = { ok: true; items: MissionItem[] } | { ok: false; reason: MissionFailure; detail: string };

export interface MissionOptions {
  timeoutMs?: number;
  retries?: number;
  missionType?: common.MavMissionType;
}

const DEFAULTS = { timeoutMs: 1500, retries: 5, missionType: common.MavMissionType.MISSION };

enum Step {
  Idle,
  SendingCount,
  SendingItems,
  RequestingList,
  RequestingItems,
  Done,
}

export function toItemInt(item: MissionItem, seq: number, target: { sysid: number; compid: number }, missionType: common.MavMissionType): common.MissionItemInt {
  const m = new common.MissionItemInt();
  m.targetSystem = target.sysid;
  m.targetComponent = target.compid;
  m.seq = seq;
  m.frame = item.frame;
  m.command = item.command;
  m.current = seq === 0 ? 1 : 0;
  m.autocontinue = item.autocontinue === false ? 0 : 1;
  const p = item.params ?? [];
  m.param1 = p[0] ?? 0;
  m.param2 = p[1] ?? 0;
  m.param3 = p[2] ?? 0;
  m.param4 = p[3] ?? 0;
  m.x = Math.round(item.latDeg * 1e7);
  m.y = Math.round(item.lonDeg * 1e7);
  m.z = item.altM;
  m.missionType = missionType;
  return m;
}

export function fromItemInt(m: common.MissionItemInt): MissionItem {
  return { command: m.command, frame: m.frame, params: [m.param1, m.param2, m.param3, m.param4], latDeg: m.x / 1e7, lonDeg: m.y / 1e7, altM: m.z, autocontinue: m.autocontinue !== 0 };
}

/** One transfer at a time per vehicle; each call runs the state machine to a closed result. */
export class MissionClient {
  private readonly o: typeof DEFAULTS;

  constructor(
    private readonly port: MessagePort,
    opts: MissionOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...opts };
  }

  private address<T extends MavLinkData & { targetSystem: number; targetComponent: number }>(m: T): T {
    m.targetSystem = this.port.target.sysid;
    m.targetComponent = this.port.target.compid;
    return m;
  }

  /** Runs a transfer: `onMessage` returns the final result when done; timeouts resend `lastSent`. */
  private transfer<R>(start: () => MavLinkData, onMessage: (m: MavLinkData, resend: (m: MavLinkData) => void) => R | undefined, onGiveUp: () => R): Promise<R> {
    return new Promise<R>((resolve) => {
      let lastSent: MavLinkData = start();
      let retries = 0;
      let timer = this.port.clock.setTimeout(onTimeout, this.o.timeoutMs);
      const send = (m: MavLinkData) => {
        lastSent = m;
        this.port.send(m);
      };
      const finish = (r: R) => {
        this.port.clock.clearTimeout(timer);
        unsubscribe();
        resolve(r);
      };
      const unsubscribe = this.port.onMessage((m) => {
        const progressBefore = lastSent;
        const r = onMessage(m, send);
        if (r !== undefined) return finish(r);
        if (lastSent !== progressBefore) {
          retries = 0;
          this.port.clock.clearTimeout(timer);
          timer = this.port.clock.setTimeout(onTimeout, this.o.timeoutMs);
        }
      });
      const self = this;
      function onTimeout() {
        if (++retries > self.o.retries) return finish(onGiveUp());
        self.port.send(lastSent);
        timer = self.port.clock.setTimeout(onTimeout, self.o.timeoutMs);
      }
      this.port.send(lastSent);
    });
  }

  upload(items: MissionItem[]): Promise<MissionUploadResult> {
    const type = this.o.missionType;
    const wire = items.map((it, seq) => toItemInt(it, seq, this.port.target, type));
    let step = Step.SendingCount;
    return this.transfer<MissionUploadResult>(
      () => {
        const c = this.address(new common.MissionCount());
        c.count = items.length;
        c.missionType = type;
        return c;
      },
      (m, send) => {
        if ((m instanceof common.MissionRequestInt || m instanceof common.MissionRequest) && m.missionType === type) {
          const item = wire[m.seq];
          if (!item) return undefined;
          step = Step.SendingItems;
          // A repeated request (our item was lost) is answered again with the same item.
          send(item);
          return undefined;
        }
        if (m instanceof common.MissionAck && m.missionType === type && (step === Step.SendingItems || items.length === 0 || m.type !== common.MavMissionResult.ACCEPTED)) {
          step = Step.Done;
          if (m.type === common.MavMissionResult.ACCEPTED) return { ok: true, items: items.length };
          return { ok: false, reason: 'rejected', result: m.type, detail: `vehicle refused the mission: ${common.MavMissionResult[m.type] ?? m.type}` };
        }
        return undefined;
      },
      () => ({ ok: false, reason: 'timeout', detail: `no answer during mission upload (step ${Step[step]})` }),
    );
  }

  download(): Promise<MissionDownloadResult> {
    const type = this.o.missionType;
    const got: common.MissionItemInt[] = [];
    let count = -1;
    let step = Step.RequestingList;
    const requestItem = (seq: number) => {
      const r = this.address(new common.MissionRequestInt());
      r.seq = seq;
      r.missionType = type;
      return r;
    };
    const ack = () => {
      const a = this.address(new common.MissionAck());
      a.type = common.MavMissionResult.ACCEPTED;
      a.missionType = type;
      return a;
    };
    return this.transfer<MissionDownloadResult>(
      () => {
        const r = this.address(new common.MissionRequestList());
        r.missionType = type;
        return r;
      },
      (m, send) => {
        if (m instanceof common.MissionCount && m.missionType === type && step === Step.RequestingList) {
          count = m.count;
          if (count === 0) {
            this.port.send(ack());
            return { ok: true, items: [] };
          }
          step = Step.RequestingItems;
          send(requestItem(0));
          return undefined;
        }
        if (m instanceof common.MissionItemInt && m.missionType === type && step === Step.RequestingItems) {
          if (m.seq !== got.length) return undefined; // out of order or a duplicate: keep asking for the one we need
          got.push(m);
          if (got.length < count) {
            send(requestItem(got.length));
            return undefined;
          }
          // The final ACK is fire-and-forget: a vehicle that misses it times out harmlessly.
          this.port.send(ack());
          return { ok: true, items: got.map(fromItemInt) };
        }
        return undefined;
      },
      () => ({ ok: false, reason: 'timeout', detail: `no answer during mission download (${got.length}/${count < 0 ? '?' : count} items)` }),
    );
  }
}
