/**
 * Fuzz input for the bridge: well-formed frames of random known messages with random payloads,
 * mutations of them (bit flips, truncation, wrong length, signed flag, duplicated bytes), unknown
 * ids, MAVLink 1 frames and plain noise. Used by the bounded fuzz test and the `fuzz` bench.
 */
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { knownMessageIds, messageInfo } from '../../firmware-bridge/protocol/dialect.ts';
import { IFLAG_SIGNED, SIGNATURE_LENGTH } from '../../firmware-bridge/protocol/frame.ts';
import { randomInt, seededRandom, type Random } from '../../firmware-bridge/random.ts';

const IDS = knownMessageIds();

function randomBytes(random: Random, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = randomInt(random, 256);
  return b;
}

/** A frame with a valid CRC for a random known message and random payload bytes. */
function validFrame(random: Random, signed: boolean): Buffer {
  const id = IDS[randomInt(random, IDS.length)]!;
  const info = messageInfo(id)!;
  // Few system ids, as on a real radio; fuzzing every sysid is the manager's cap test.
  const sysid = 1 + randomInt(random, 8);
  if (id < 256 && random() < 0.15) {
    const len = info.baseLength;
    const b = Buffer.concat([Buffer.from([0xfe, len, randomInt(random, 256), sysid, 1, id]), randomBytes(random, len), Buffer.alloc(2)]);
    b.writeUInt16LE(frameCrc(b, 1, 6 + len, info.crcExtra), 6 + len);
    return b;
  }
  const len = 1 + randomInt(random, info.maxLength);
  const head = Buffer.from([0xfd, len, signed ? IFLAG_SIGNED : 0, 0, randomInt(random, 256), sysid, 1, id & 0xff, (id >> 8) & 0xff, id >> 16]);
  const b = Buffer.concat([head, randomBytes(random, len), Buffer.alloc(2 + (signed ? SIGNATURE_LENGTH : 0))]);
  b.writeUInt16LE(frameCrc(b, 1, 10 + len, info.crcExtra), 10 + len);
  if (signed) randomBytes(random, SIGNATURE_LENGTH).copy(b, 12 + len);
  return b;
}

function mutate(random: Random, b: Buffer): Buffer {
  const m = Buffer.from(b);
  switch (randomInt(random, 6)) {
    case 0: // bit flips
      for (let k = 0; k < 1 + randomInt(random, 4); k++) m[randomInt(random, m.length)]! ^= 1 << randomInt(random, 8);
      return m;
    case 1: // truncated
      return m.subarray(0, randomInt(random, m.length));
    case 2: // wrong length byte
      m[1] = randomInt(random, 256);
      return m;
    case 3: // signed flag set or cleared without a signature
      if (m[0] === 0xfd) m[2] = m[2]! ^ IFLAG_SIGNED;
      return m;
    case 4: // unknown incompat flags or unknown message id
      if (m[0] === 0xfd) {
        if (random() < 0.5) m[2] = randomInt(random, 256);
        else m[9] = 1 + randomInt(random, 255);
      }
      return m;
    default: // duplicated slice
      return Buffer.concat([m, m.subarray(randomInt(random, m.length))]);
  }
}

/** One fuzz chunk: a few frames, mutations and noise glued together. */
export function fuzzChunk(random: Random): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + randomInt(random, 6);
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.45) parts.push(validFrame(random, random() < 0.1));
    else if (r < 0.85) parts.push(mutate(random, validFrame(random, random() < 0.2)));
    else parts.push(randomBytes(random, 1 + randomInt(random, 64)));
  }
  return Buffer.concat(parts);
}

export function* fuzzChunks(seed: number, count: number): Generator<Buffer> {
  const random = seededRandom(seed);
  for (let i = 0; i < count; i++) yield fuzzChunk(random);
}
