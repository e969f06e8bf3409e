import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SystemClock } from '../../../firmware-bridge/clock.ts';
import { createLink, TcpServerLink } from '../../../firmware-bridge/links/index.ts';
import { needCommand } from '../../helpers/tools.ts';
import { PtyPair } from '../../helpers/pty.ts';
import { eventually, nextEvent } from '../../helpers/events.ts';

test('serial: the device disappears and reappears; the link comes back by itself', async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  const link = createLink(`serial:${pty.a}?baud=57600`, { clock: new SystemClock() });
  const peer = createLink(`serial:${pty.b}?baud=57600`);
  await link.start();
  await peer.start();
  try {
    for (let round = 0; round < 3; round++) {
      const down = nextEvent(link, 'down');
      await pty.stop();
      await down;
      assert.equal(link.isUp, false);
      await peer.stop();
      const up = nextEvent(link, 'up', 8000);
      await pty.start();
      await up;
      await peer.start();
      const got: Buffer[] = [];
      peer.on('data', (c) => got.push(c));
      link.write(Buffer.from(`round ${round}`));
      await eventually(() => Buffer.concat(got).toString() === `round ${round}`, 5000, 'data after reconnect');
    }
    assert.equal(link.stats.reconnects, 3);
  } finally {
    await link.stop();
    await peer.stop();
    await pty.stop();
  }
});

test('tcp client: the server goes away and comes back on the same port; the client reconnects', async () => {
  const server = new TcpServerLink('tcpin://127.0.0.1:0', '127.0.0.1', 0);
  await server.start();
  const port = server.boundPort!;
  const client = createLink(`tcp://127.0.0.1:${port}`, { clock: new SystemClock() });
  const firstUp = nextEvent(client, 'up');
  await client.start();
  await firstUp;
  const down = nextEvent(client, 'down');
  await server.stop();
  await down;
  const again = new TcpServerLink(`tcpin://127.0.0.1:${port}`, '127.0.0.1', port);
  const up = nextEvent(client, 'up', 8000);
  await again.start();
  await up;
  const got: Buffer[] = [];
  again.on('data', (c) => got.push(c));
  client.write(Buffer.from('hello again'));
  await eventually(() => Buffer.concat(got).toString() === 'hello again');
  assert.ok(client.stats.reconnects >= 1);
  await client.stop();
  await again.stop();
});
