/**
 * CRC-16/MCRF4XX ("X.25" in MAVLink's docs), seeded 0xFFFF, as mavlink/checksum.h crc_accumulate.
 * MAVLink frames are checked over header (without STX) + payload, then CRC_EXTRA of the message
 * (mavlink.io/en/guide/serialization.html#checksum).
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    let crc = 0xffff;
    // table entry = crc_accumulate(b, 0) with the low/high split folded in
    let tmp = b ^ 0;
    tmp ^= (tmp << 4) & 0xff;
    crc = ((tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xffff;
    t[b] = crc;
  }
  return t;
})();

/** Accumulates bytes [start, end) of buf into crc. */
export function crcAccumulate(crc: number, buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    crc = (crc >> 8) ^ TABLE[(buf[i]! ^ crc) & 0xff]!;
  }
  return crc;
}

export function crcByte(crc: number, byte: number): number {
  return (crc >> 8) ^ TABLE[(byte ^ crc) & 0xff]!;
}

/** The checksum of a frame body [start, end) with the message's CRC_EXTRA appended. */
export function frameCrc(buf: Uint8Array, start: number, end: number, crcExtra: number): number {
  return crcByte(crcAccumulate(0xffff, buf, start, end), crcExtra);
}

/** What CRC_EXTRA is computed from: a message's name and its fields in wire order. */
export interface CrcExtraSource {
  MSG_NAME: string;
  FIELDS: readonly { source: string; type: string; length: number; extension: boolean }[];
}

/**
 * A message's CRC_EXTRA (mavlink.io serialization.html#crc_extra, mavgen's message_checksum): the
 * CRC of "NAME " and, for each field in wire order up to the extensions, "type name " (the array's
 * element type) and the array length as one byte; the two CRC bytes XORed.
 */
export function crcExtra(msg: CrcExtraSource): number {
  const text = (crc: number, s: string) => crcAccumulate(crc, Buffer.from(s, 'ascii'), 0, s.length);
  let crc = text(0xffff, `${msg.MSG_NAME} `);
  for (const f of msg.FIELDS) {
    if (f.extension) break;
    // mavlink-mappings spells arrays "char[]" and HEARTBEAT's version field "uint8_t_mavlink_version".
    crc = text(crc, `${f.type.replace('[]', '').replace('_mavlink_version', '')} ${f.source} `);
    if (f.length > 0) crc = crcByte(crc, f.length);
  }
  return (crc & 0xff) ^ (crc >> 8);
}
