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
