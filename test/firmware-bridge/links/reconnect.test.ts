import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, settle, SystemClock } from '../../../firmware-bridge/clock.ts';
import { createLink, type Link } from '../../../firmware-bridge/links/index.ts';
import { needCommand } from '../../helpers/tools.ts';
import { PtyPair } from '../../helpers/pty.ts';
import { nextEvent, receiveBytes } from '../../helpers/events.ts';
import { freePort } from '../../helpers/ports.ts';

const TIMEOUT = { timeout: 10_000 };

async function roundTrip(from: Link, to: Link, text: string): Promise<void> {
  const received = receiveBytes(to, text.length);
  from.write(Buffer.from(text));
  assert.equal((await received).toString(), text);
}

test('serial: the device disappears and reappears; both ends come back by themselves', TIMEOUT, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  const clock = new SystemClock();
  const a = createLink(`serial:${pty.a}?baud=57600`, { clock });
  const b = createLink(`serial:${pty.b}?baud=57600`, { clock });
  await a.start();
  await b.start();
  try {
    for (let round = 1; round <= 3; round++) {
      const downs = [nextEvent(a, 'down'), nextEvent(b, 'down')];
      await pty.stop();
      await Promise.all(downs);
      assert.equal(a.isUp, false);
      const dropsBefore = a.stats.dropsOut;
      a.write(Buffer.from('into the void'));
      assert.equal(a.stats.dropsOut, dropsBefore + 1, 'a write while the device is gone is a drop');

      const ups = [nextEvent(a, 'up'), nextEvent(b, 'up')];
      await pty.start();
      await Promise.all(ups);
      await roundTrip(a, b, `round ${round} a->b`);
      await roundTrip(b, a, `round ${round} b->a`);
      assert.equal(a.stats.reconnects, round);
    }
  } finally {
    await a.stop();
    await b.stop();
    await pty.dispose();
  }
});

test('tcp client: started before the server, then the server restarts on the same port; the client reconnects', TIMEOUT, async () => {
  const port = await freePort();
  const client = createLink(`tcp://127.0.0.1:${port}`, { clock: new SystemClock() });
  let server = createLink(`tcpin://127.0.0.1:${port}`);
  try {
    const firstUp = nextEvent(client, 'up');
    await client.start();
    assert.equal(client.isUp, false, 'nobody is listening yet');
    await server.start();
    await firstUp;
    await roundTrip(client, server, 'hello');
    assert.equal(client.stats.reconnects, 0, 'the first connection is not a reconnect');

    const down = nextEvent(client, 'down');
    await server.stop();
    await down;
    server = createLink(`tcpin://127.0.0.1:${port}`);
    const up = nextEvent(client, 'up');
    await server.start();
    await up;
    await roundTrip(client, server, 'hello again');
    assert.equal(client.stats.reconnects, 1);
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('tcp client: refused connects are retried on the injected clock, 250 ms doubling, and are not reconnects', TIMEOUT, async () => {
  const clock = new ManualClock();
  const client = createLink(`tcp://127.0.0.1:${await freePort()}`, { clock });
  const delays: number[] = [];
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const refused = nextEvent(client, 'error');
      if (attempt === 0) await client.start();
      else clock.advance(delays.at(-1)!);
      assert.match(String((await refused)[0]), /ECONNREFUSED/);
      // The socket's 'close', which schedules the retry, follows its 'error' within a few turns.
      while (clock.pending === 0) await settle();
      assert.equal(clock.pending, 1);
      delays.push(clock.nextDue()! - clock.now());
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000]);
    assert.equal(client.stats.reconnects, 0);
    assert.equal(client.isUp, false);
  } finally {
    await client.stop();
  }
  assert.equal(clock.pending, 0, 'stop() cancels the retry');
});
