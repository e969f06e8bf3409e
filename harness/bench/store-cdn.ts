/**
 * The `store` bench's figures of the phone's hot cache over HTTP (hot-http.ts, docs/cdn.md), over
 * loopback, with a grant in the URL as a <video> element uses it:
 *   cdn_first_byte_ms   a 64 KiB range at a random part of the item: from sending the request to its
 *                       first body byte (the part opened from the store and decrypted), the median
 *                       over the rounds, on a kept-alive connection
 *   cdn_stream_mb_s     the whole item (cdn_item_mb, 256 KiB parts) streamed in one 200 and read to
 *                       its end, MB/s, the median of the rounds
 */
import { randomBytes, randomInt } from 'node:crypto';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { Figures } from '../../controller/commands/bench.ts';
import { UserDirectory } from '../../controller/mesh/users.ts';
import { ChunkStore } from '../../controller/store/chunk-store.ts';
import { HotHttpServer, issueGrant } from '../../controller/store/hot-http.ts';
import { HotItems } from '../../controller/store/hot-items.ts';
import { testUsers } from '../rigs/mesh.ts';
import { median } from './stats.ts';

const MB = 1e6;
const RANGE = 64 * 1024;

/** Ms to the first body byte, and the body's length, of one GET. */
function timedGet(url: string, agent: Agent, headers: Record<string, string>): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first: number | undefined;
    let bytes = 0;
    const req = request(url, { agent, headers }, (res) => {
      if (res.statusCode !== 200 && res.statusCode !== 206) reject(new Error(`${url}: HTTP ${res.statusCode}`));
      res.on('data', (b: Buffer) => {
        first ??= performance.now() - t0;
        bytes += b.length;
      });
      res.on('end', () => resolve({ firstByteMs: first ?? performance.now() - t0, totalMs: performance.now() - t0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function cdnFigures(work: string, quick: boolean): Promise<Figures> {
  const store = new ChunkStore({ dir: join(work, 'cdn-phone'), synchronous: 'NORMAL' });
  const hot = new HotItems(store);
  const http = new HotHttpServer({ hot, users: new UserDirectory(await testUsers()), host: '127.0.0.1', port: 0 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const size = 32 * 2 ** 20;
    const body = randomBytes(size);
    // Written as the prefetcher does, a few parts at a time.
    for (let at = 0; at < size; at += 16 * hot.partBytes) hot.write({ item: 'bench.webm', offset: at, total: size, mime: 'video/webm' }, body.subarray(at, at + 16 * hot.partBytes));
    await http.start();
    const url = http.url('bench.webm', issueGrant(hot, { item: 'bench.webm', expiresAt: Date.now() + 3_600_000 }));

    const firstBytes: number[] = [];
    const rounds = quick ? 21 : 101;
    for (let i = 0; i <= rounds; i++) {
      const start = randomInt(0, size - RANGE);
      const r = await timedGet(url, agent, { Range: `bytes=${start}-${start + RANGE - 1}` });
      if (r.bytes !== RANGE) throw new Error(`range of ${RANGE} bytes came as ${r.bytes}`);
      if (i > 0) firstBytes.push(r.firstByteMs); // the first one opens the connection
    }

    const streams: number[] = [];
    for (let i = 0; i < (quick ? 3 : 7); i++) {
      const r = await timedGet(url, agent, {});
      if (r.bytes !== size) throw new Error(`the item of ${size} bytes came as ${r.bytes}`);
      streams.push(size / MB / (r.totalMs / 1000));
    }
    return { cdn_first_byte_ms: median(firstBytes), cdn_stream_mb_s: median(streams), cdn_item_mb: size / MB };
  } finally {
    agent.destroy();
    await http.stop();
    hot.close();
    store.close();
  }
}
