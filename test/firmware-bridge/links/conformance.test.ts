/**
 * One conformance suite for every link kind (MQTT.js abstract_store habit): each factory returns
 * two connected ends; the same cases run against all of them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SystemClock } from '../../../firmware-bridge/clock.ts';
import { createLink, createMemoryPair, type Link, TcpServerLink, UdpInLink } from '../../../firmware-bridge/links/index.ts';
import { needCommand } from '../../helpers/tools.ts';
import { PtyPair } from '../../helpers/pty.ts';
import { eventually } from '../../helpers/events.ts';

interface Pair {
  a: Link;
  b: Link;
  /** Largest write the transport delivers whole (datagrams). */
  maxWrite: number;
  close(): Promise<void>;
}

const clock = new SystemClock();

const FACTORIES: Record<string, { needs?: string; make(): Promise<Pair> }> = {
  memory: {
    async make() {
      const [a, b] = createMemoryPair();
      await a.start();
      await b.start();
      return { a, b, maxWrite: Infinity, close: async () => {} };
    },
  },
  udp: {
    async make() {
      const server = new UdpInLink('udpin://127.0.0.1:0', '127.0.0.1', 0);
      await server.start();
      const client = createLink(`udpout://127.0.0.1:${server.boundPort}`, { clock });
      await client.start();
      // A UDP server learns its peer from the first datagram.
      client.write(Buffer.alloc(0));
      await eventually(() => server.stats.chunksIn > 0, 2000, 'udp peer learned');
      return { a: client, b: server, maxWrite: 1024, close: async () => {} };
    },
  },
  tcp: {
    async make() {
      const server = new TcpServerLink('tcpin://127.0.0.1:0', '127.0.0.1', 0);
      await server.start();
      const client = createLink(`tcp://127.0.0.1:${server.boundPort}`, { clock });
      await client.start();
      await eventually(() => client.isUp, 2000, 'tcp connected');
      await eventually(() => (server as unknown as { clients: Map<string, unknown> }).clients.size > 0, 2000, 'server saw the client');
      return { a: client, b: server, maxWrite: Infinity, close: async () => {} };
    },
  },
  serial: {
    needs: 'socat',
    async make() {
      const pty = new PtyPair();
      await pty.start();
      const a = createLink(`serial:${pty.a}?baud=115200`, { clock });
      const b = createLink(`serial:${pty.b}?baud=115200`, { clock });
      await a.start();
      await b.start();
      return { a, b, maxWrite: 4096, close: () => pty.stop() };
    },
  },
};

function collect(link: Link): Buffer[] {
  const got: Buffer[] = [];
  link.on('data', (c) => got.push(Buffer.from(c)));
  return got;
}

async function sendAll(from: Link, to: Buffer[], data: Buffer, maxWrite: number): Promise<void> {
  for (let off = 0; off < data.length; off += Math.min(maxWrite, data.length)) from.write(data.subarray(off, off + Math.min(maxWrite, data.length)));
  await eventually(() => Buffer.concat(to).length >= data.length, 10_000, `${data.length} bytes delivered`);
}

for (const [kind, factory] of Object.entries(FACTORIES)) {
  describe(`link conformance: ${kind}`, () => {
    test('bytes arrive intact and in order, both ways, counted in stats', async (t) => {
      if (factory.needs && !needCommand(t, factory.needs)) return;
      const p = await factory.make();
      try {
        const atB = collect(p.b);
        const atA = collect(p.a);
        const burst = randomBytes(64 * 1024);
        await sendAll(p.a, atB, burst, p.maxWrite);
        assert.deepEqual(Buffer.concat(atB), burst);
        const back = randomBytes(4096);
        await sendAll(p.b, atA, back, p.maxWrite);
        assert.deepEqual(Buffer.concat(atA), back);
        assert.ok(p.a.stats.bytesOut >= burst.length);
        assert.ok(p.b.stats.bytesIn >= burst.length);
      } finally {
        await p.a.stop();
        await p.b.stop();
        await p.close();
      }
    });

    test('stop is idempotent, reports down, and later writes are counted drops', async (t) => {
      if (factory.needs && !needCommand(t, factory.needs)) return;
      const p = await factory.make();
      let downs = 0;
      p.a.on('down', () => downs++);
      await p.a.stop();
      await p.a.stop();
      assert.equal(downs, 1);
      assert.equal(p.a.isUp, false);
      const before = p.a.stats.dropsOut;
      assert.doesNotThrow(() => p.a.write(Buffer.from([1, 2, 3])));
      assert.equal(p.a.stats.dropsOut, before + 1);
      await p.b.stop();
      await p.close();
    });
  });
}
