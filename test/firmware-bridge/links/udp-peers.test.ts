/**
 * UDP links take only their peer: udpout through a connected socket, udpin pinned with ?peer=
 * (or announcing every new peer). Issue 15: a foreign port's ARM commands were forwarded.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createLink } from '../../../firmware-bridge/links/index.ts';
import { UdpInLink } from '../../../firmware-bridge/links/udp.ts';
import { parseLinkUrl } from '../../../firmware-bridge/links/url.ts';
import type { Link } from '../../../firmware-bridge/links/link.ts';

function socket(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

function heard(link: Link): string[] {
  const got: string[] = [];
  link.on('data', (chunk) => got.push(chunk.toString()));
  return got;
}

/** A GCS socket, a stranger's socket and a started link made from the GCS's port; all closed after the test. */
async function gcsAndStranger(t: TestContext, url: (gcsPort: number) => string) {
  const gcs = await socket();
  const stranger = await socket();
  const link = createLink(url(gcs.address().port));
  await link.start();
  t.after(async () => {
    await link.stop();
    gcs.close();
    stranger.close();
  });
  return { gcs, stranger, link };
}

const settle = () => new Promise((r) => setTimeout(r, 100));

test('udpout takes datagrams from its host and port only; a stranger on another port is not heard', async (t) => {
  const { gcs, stranger, link } = await gcsAndStranger(t, (gcsPort) => `udpout://127.0.0.1:${gcsPort}`);
  const got = heard(link);
  link.write(Buffer.from('hello'));
  const local = await new Promise<number>((resolve) => gcs.once('message', (_m, from) => resolve(from.port)));
  gcs.send('from-gcs', local, '127.0.0.1');
  stranger.send('ARM', local, '127.0.0.1');
  await settle();
  assert.deepEqual(got, ['from-gcs']);
});

test('udpout with nobody listening yet counts dropped writes and stays up', async (t) => {
  const gone = await socket();
  const port = gone.address().port;
  gone.close();
  const link = createLink(`udpout://127.0.0.1:${port}`);
  const errors: Error[] = [];
  link.on('error', (e) => errors.push(e));
  await link.start();
  t.after(() => link.stop());
  for (let i = 0; i < 3; i++) {
    link.write(Buffer.from('x'));
    await settle();
  }
  assert.equal(link.isUp, true);
  assert.deepEqual(errors, []);
  assert.ok(link.stats.dropsOut >= 1, `ICMP refusals counted (${link.stats.dropsOut})`);
});

test('udpin pinned with ?peer= answers that peer from the start and drops everyone else, counted', async (t) => {
  const { gcs, stranger, link: started } = await gcsAndStranger(t, (gcsPort) => `udpin://127.0.0.1:0?peer=127.0.0.1:${gcsPort}`);
  const link = started as UdpInLink;
  const got = heard(link);
  const first = new Promise<string>((resolve) => gcs.once('message', (m) => resolve(m.toString())));
  link.write(Buffer.from('to-gcs'));
  assert.equal(await first, 'to-gcs', 'written to the pinned peer before it spoke');
  stranger.send('ARM', link.boundPort!, '127.0.0.1');
  gcs.send('from-gcs', link.boundPort!, '127.0.0.1');
  await settle();
  assert.deepEqual(got, ['from-gcs']);
  assert.equal(link.stats.foreignIn, 1);
  assert.deepEqual(link.peers, [`127.0.0.1:${gcs.address().port}`]);
});

test('udpin unpinned announces a peer after the first', async (t) => {
  const a = await socket();
  const b = await socket();
  const link = createLink('udpin://127.0.0.1:0') as UdpInLink;
  await link.start();
  t.after(async () => {
    await link.stop();
    a.close();
    b.close();
  });
  const news: [string, string[]][] = [];
  link.on('peer-new', (peer, known) => news.push([peer, known]));
  a.send('1', link.boundPort!, '127.0.0.1');
  await settle();
  b.send('2', link.boundPort!, '127.0.0.1');
  a.send('3', link.boundPort!, '127.0.0.1');
  await settle();
  assert.deepEqual(news, [[`127.0.0.1:${b.address().port}`, [`127.0.0.1:${a.address().port}`]]]);
});

test('link URLs: ?peer= only on udpin, with a host and a port', () => {
  assert.deepEqual(parseLinkUrl('udpin://0.0.0.0:14550?peer=10.0.0.5:14551'), { kind: 'udpin', host: '0.0.0.0', port: 14550, peer: { host: '10.0.0.5', port: 14551 } });
  assert.throws(() => parseLinkUrl('udpout://127.0.0.1:14550?peer=1.2.3.4:5'), /query parameter "peer" is not known/);
  assert.throws(() => parseLinkUrl('udpin://0.0.0.0:14550?peer=10.0.0.5'), /is not host:port/);
  assert.throws(() => parseLinkUrl('udpin://0.0.0.0:14550?peer=10.0.0.5:0'), /out of range/);
  assert.throws(() => parseLinkUrl('udpin://0.0.0.0:14550?bind=1'), /"bind" is not known \(only "peer"\)/);
});
