/**
 * One conformance suite for every link kind (MQTT.js abstract_store habit): each factory builds two
 * connected ends from link URLs; the same cases run against all of them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createLink, createMemoryPair, type Link, type TcpServerLink, type UdpInLink } from '../../../firmware-bridge/links/index.ts';
import { needCommand } from '../../helpers/tools.ts';
import { PtyPair } from '../../helpers/pty.ts';
import { eventually, nextEvent, receiveBytes } from '../../helpers/events.ts';

interface Pair {
  a: Link;
  b: Link;
  /** Largest write the transport delivers whole (a UDP datagram); bigger data is sent in pieces. */
  maxWrite: number;
  /** Releases what the factory made besides the links (the socat process). */
  close(): Promise<void>;
}

const TIMEOUT = { timeout: 10_000 };
const BURST = 64 * 1024;

/** udpout -> udpin on `host`; the server learns its peer from a first (empty) datagram. */
async function udpPair(host: string): Promise<Pair> {
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const server = createLink(`udpin://${urlHost}:0`) as UdpInLink;
  await server.start();
  const client = createLink(`udpout://${urlHost}:${server.boundPort}`);
  await client.start();
  const learned = nextEvent(server, 'data');
  client.write(Buffer.alloc(0));
  await learned;
  return { a: client, b: server, maxWrite: 1024, close: async () => {} };
}

const FACTORIES: Record<string, { needs?: string; make(): Promise<Pair> }> = {
  memory: {
    async make() {
      const [a, b] = createMemoryPair();
      await a.start();
      await b.start();
      return { a, b, maxWrite: Infinity, close: async () => {} };
    },
  },
  udp: { make: () => udpPair('127.0.0.1') },
  udp6: { make: () => udpPair('::1') },
  tcp: {
    async make() {
      const server = createLink('tcpin://127.0.0.1:0') as TcpServerLink;
      await server.start();
      const client = createLink(`tcp://127.0.0.1:${server.boundPort}`);
      const up = nextEvent(client, 'up');
      await client.start();
      await up;
      await eventually(() => server.peers.length === 1, 2000, 'the server accepted the client');
      return { a: client, b: server, maxWrite: Infinity, close: async () => {} };
    },
  },
  serial: {
    needs: 'socat',
    async make() {
      const pty = new PtyPair();
      await pty.start();
      const a = createLink(`serial:${pty.a}?baud=115200`);
      const b = createLink(`serial:${pty.b}?baud=115200`);
      await a.start();
      await b.start();
      return { a, b, maxWrite: Infinity, close: () => pty.dispose() };
    },
  },
};

/** Writes `data` from `from` in pieces of at most `maxWrite` and resolves with what `to` received. */
function transfer(from: Link, to: Link, data: Buffer, maxWrite: number): Promise<Buffer> {
  const received = receiveBytes(to, data.length, 8000);
  for (let off = 0; off < data.length; off += maxWrite) from.write(data.subarray(off, off + maxWrite));
  return received;
}

for (const [kind, factory] of Object.entries(FACTORIES)) {
  describe(`link conformance: ${kind}`, () => {
    test('a 64 KiB burst arrives intact and in order, both ways, and stats count the bytes', TIMEOUT, async (t) => {
      if (factory.needs && !needCommand(t, factory.needs)) return;
      const p = await factory.make();
      try {
        const there = randomBytes(BURST);
        assert.deepEqual(await transfer(p.a, p.b, there, p.maxWrite), there);
        const back = randomBytes(BURST);
        assert.deepEqual(await transfer(p.b, p.a, back, p.maxWrite), back);
        for (const link of [p.a, p.b]) {
          assert.equal(link.stats.bytesOut, BURST, `${link.url} bytesOut`);
          assert.equal(link.stats.bytesIn, BURST, `${link.url} bytesIn`);
          assert.equal(link.stats.dropsOut, 0, `${link.url} dropsOut`);
        }
      } finally {
        await p.a.stop();
        await p.b.stop();
        await p.close();
      }
    });

    test('stop() is idempotent and reports down once; writes after it are counted drops', TIMEOUT, async (t) => {
      if (factory.needs && !needCommand(t, factory.needs)) return;
      const p = await factory.make();
      try {
        for (const link of [p.a, p.b]) {
          assert.equal(link.isUp, true, `${link.url} up before stop`);
          const downs: unknown[] = [];
          link.on('down', (reason) => downs.push(reason));
          await link.stop();
          await link.stop();
          assert.deepEqual(downs, ['stopped'], `${link.url} down events`);
          assert.equal(link.isUp, false);
          const before = { ...link.stats };
          assert.doesNotThrow(() => link.write(Buffer.from([1, 2, 3])));
          assert.equal(link.stats.dropsOut, before.dropsOut + 1);
          assert.equal(link.stats.bytesOut, before.bytesOut);
        }
      } finally {
        await p.close();
      }
    });
  });
}

describe('links with several peers', () => {
  test('tcpin: each client is its own peer, writes reach all, a closed client is peer-gone', TIMEOUT, async () => {
    const server = createLink('tcpin://127.0.0.1:0') as TcpServerLink;
    await server.start();
    const clients = [createLink(`tcp://127.0.0.1:${server.boundPort}`), createLink(`tcp://127.0.0.1:${server.boundPort}`)];
    try {
      for (const c of clients) {
        const up = nextEvent(c, 'up');
        await c.start();
        await up;
      }
      await eventually(() => server.peers.length === 2, 2000, 'two clients accepted');
      const [first, second] = server.peers;
      assert.notEqual(first, second);

      const fromClients = new Map<string, string>();
      server.on('data', (chunk, peer) => fromClients.set(peer, (fromClients.get(peer) ?? '') + chunk.toString()));
      clients[0]!.write(Buffer.from('zero'));
      clients[1]!.write(Buffer.from('one'));
      await eventually(() => fromClients.size === 2 && [...fromClients.values()].every((s) => s === 'zero' || s === 'one'), 2000, 'both clients heard');
      assert.deepEqual(new Set(fromClients.keys()), new Set(server.peers));

      const received = clients.map((c) => receiveBytes(c, 5));
      server.write(Buffer.from('hello'));
      for (const r of received) assert.equal((await r).toString(), 'hello');

      const gone = nextEvent(server, 'peer-gone');
      const zeroPeer = [...fromClients].find(([, s]) => s === 'zero')![0];
      await clients[0]!.stop();
      assert.deepEqual(await gone, [zeroPeer]);
      assert.deepEqual(server.peers, [...fromClients.keys()].filter((p) => p !== zeroPeer));
    } finally {
      for (const c of clients) await c.stop();
      await server.stop();
    }
  });

  test('udpin: every address heard from is a peer "host:port" and gets every write', TIMEOUT, async () => {
    const server = createLink('udpin://127.0.0.1:0') as UdpInLink;
    await server.start();
    const clients = [createLink(`udpout://127.0.0.1:${server.boundPort}`), createLink(`udpout://127.0.0.1:${server.boundPort}`)];
    try {
      const peers: string[] = [];
      server.on('data', (_chunk, peer) => peers.push(peer));
      for (const c of clients) {
        await c.start();
        const heard = nextEvent(server, 'data');
        c.write(Buffer.from('hi'));
        await heard;
      }
      assert.equal(peers.length, 2);
      for (const peer of peers) assert.match(peer, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(server.peers, peers);

      const received = clients.map((c) => receiveBytes(c, 5));
      server.write(Buffer.from('hello'));
      for (const r of received) assert.equal((await r).toString(), 'hello');
      assert.equal(server.stats.bytesOut, 10);
    } finally {
      for (const c of clients) await c.stop();
      await server.stop();
    }
  });
});
