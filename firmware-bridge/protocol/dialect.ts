import { minimal, common, standard, ardupilotmega, type MavLinkData, type MavLinkDataConstructor } from 'mavlink-mappings';
import * as wip from './wip.ts';

/**
 * What the bridge knows about each message id of the loaded dialects (minimal + common + standard
 * + ardupilotmega, the set ArduPilot and PX4 speak, and the WIP messages of common.xml they send
 * that mavlink-mappings lacks: wip.ts). Ids outside it are "unknown": their CRC
 * cannot be checked (no CRC_EXTRA) and they are routed verbatim, never decoded.
 */
export interface MessageInfo {
  id: number;
  name: string;
  clazz: MavLinkDataConstructor<MavLinkData>;
  crcExtra: number;
  /** Payload length with extension fields (MAVLink 2 maximum). */
  maxLength: number;
  /** Payload length without extension fields (what MAVLink 1 carries). */
  baseLength: number;
  /** Offsets of target_system / target_component in the payload, or -1 (routing, spec "Routing"). */
  targetSystemOffset: number;
  targetComponentOffset: number;
}

const infos = new Map<number, MessageInfo>();
const byName = new Map<string, MessageInfo>();

for (const registry of [minimal.REGISTRY, common.REGISTRY, standard.REGISTRY, ardupilotmega.REGISTRY, wip.REGISTRY]) {
  for (const clazz of Object.values(registry)) {
    if (infos.has(clazz.MSG_ID)) continue;
    let baseLength = 0;
    let ts = -1;
    let tc = -1;
    for (const f of clazz.FIELDS) {
      const size = f.length ? f.size * f.length : f.size;
      if (!f.extension) baseLength = Math.max(baseLength, f.offset + size);
      if (f.source === 'target_system') ts = f.offset;
      if (f.source === 'target_component') tc = f.offset;
    }
    const info: MessageInfo = {
      id: clazz.MSG_ID,
      name: clazz.MSG_NAME,
      clazz,
      crcExtra: clazz.MAGIC_NUMBER,
      maxLength: clazz.PAYLOAD_LENGTH,
      baseLength,
      targetSystemOffset: ts,
      targetComponentOffset: tc,
    };
    infos.set(info.id, info);
    byName.set(info.name, info);
  }
}

/** Lookup table indexed by message id for the framer's hot path (ids are < 2^24; known ones < 2^16). */
const fastTable: (MessageInfo | undefined)[] = [];
for (const info of infos.values()) if (info.id < 65536) fastTable[info.id] = info;

export function messageInfo(id: number): MessageInfo | undefined {
  return id < 65536 ? fastTable[id] : infos.get(id);
}

export function messageInfoByName(name: string): MessageInfo | undefined {
  return byName.get(name);
}

export function knownMessageIds(): number[] {
  return [...infos.keys()].sort((a, b) => a - b);
}

export { minimal, common, ardupilotmega, wip };
export type { MavLinkData };
