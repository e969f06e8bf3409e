/**
 * mqtt-packet, the MQTT codec of aedes and of the mqtt client, caches the encoding of every
 * variable-byte integer below 16384 (a packet's remaining length, a property's length) the first
 * time it writes one (writeToStream.js, varByteIntCache). Each entry is a Buffer.allocUnsafe(4):
 * a slice of Node's 8 KiB buffer pool, whose other slices are short-lived packets, so each new
 * length keeps a whole slab alive. The site writes packets of ever new lengths (telemetry,
 * manifests, events): 1,700 lengths and 14 MB after a simulated day, up to 16384 × 8 KiB = 128 MiB.
 * Writing one packet of every such length at start, into a stream that discards it, fills the
 * cache in one go, its entries packed side by side: 16384 × 8 bytes in 16 slabs (128 KiB).
 */
import { createRequire } from 'node:module';

interface MqttPacket {
  writeToStream: (packet: object, stream: { write: (chunk: unknown) => boolean; destroy: (e?: Error) => void }) => boolean;
}

/** The lengths mqtt-packet caches: below 16384 (writeToStream.js). */
export const CACHED_LENGTHS = 16384;

const filled = new WeakSet<MqttPacket>();

/** Fills the length cache of the mqtt-packet copy that aedes and the mqtt client each load (once each). */
export function fillMqttLengthCache(): void {
  const require = createRequire(import.meta.url);
  for (const user of ['aedes', 'mqtt']) {
    const codec = createRequire(require.resolve(user))('mqtt-packet') as MqttPacket;
    if (filled.has(codec)) continue;
    filled.add(codec);
    const discard = { write: () => true, destroy: () => {} };
    const payload = Buffer.alloc(CACHED_LENGTHS);
    // A publish with an empty topic has a remaining length of 2 + its payload's.
    for (let length = 2; length < CACHED_LENGTHS; length++) codec.writeToStream({ cmd: 'publish', topic: '', payload: payload.subarray(0, length - 2) }, discard);
  }
}
