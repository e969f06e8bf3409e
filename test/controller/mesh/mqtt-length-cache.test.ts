import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { CACHED_LENGTHS, fillMqttLengthCache } from '../../../controller/mesh/mqtt-length-cache.ts';

// Issue 18 (the soak): each remaining length mqtt-packet cached lazily kept an 8 KiB pool slab alive.
test('after filling, the cached encodings of all lengths below 16384 share a few pool slabs', () => {
  fillMqttLengthCache();
  const require = createRequire(import.meta.url);
  const codec = createRequire(require.resolve('aedes'))('mqtt-packet') as { writeToStream: (p: object, s: object) => boolean };
  const slabs = new Set<ArrayBufferLike>();
  const keep: Buffer[] = [];
  const payload = Buffer.alloc(CACHED_LENGTHS);
  for (let length = 2; length < CACHED_LENGTHS; length++) {
    keep.push(Buffer.allocUnsafe(4000)); // the short-lived packets a site allocates in between, from the same pool
    let writes = 0;
    codec.writeToStream({ cmd: 'publish', topic: '', payload: payload.subarray(0, length - 2) }, {
      // The second write of a publish is its remaining length (the first: the fixed header).
      write: (chunk: Buffer) => (++writes === 2 && slabs.add(chunk.buffer), true),
      destroy: (e?: Error) => assert.fail(e),
    });
    if (keep.length > 64) keep.length = 0;
  }
  assert.ok(slabs.size <= 20, `${slabs.size} slabs hold the ${CACHED_LENGTHS - 2} cached lengths`);
});
