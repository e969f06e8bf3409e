import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, settle, SystemClock } from '../../../firmware-bridge/clock.ts';
import { createLink, type Link } from '../../../firmware-bridge/links/index.ts';
import { needCommand } from '../../helpers/tools.ts';
import { PtyPair } from '../../helpers/pty.ts';
import { nextEvent, receiveBytes } from '../../helpers/events.ts';
import { freePort } from '../../../harness/rigs/ports.ts';

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

test('serial: however long the device was gone, it is open again within one 250 ms look of the injected clock after it reappears; the absence is reported once', TIMEOUT, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  const clock = new ManualClock();
  const link = createLink(`serial:${pty.a}?baud=57600`, { clock });
  const errors: Error[] = [];
  link.on('error', (e) => errors.push(e));
  await link.start();
  /** Fires the next timer and waits until whatever it started (a stat, an open) has finished. */
  const step = async (): Promise<number> => {
    const delay = clock.nextDue()! - clock.now();
    clock.advance(delay);
    while (clock.pending === 0) await new Promise((r) => setImmediate(r));
    return delay;
  };
  try {
    const down = nextEvent(link, 'down');
    await pty.stop();
    clock.advance(500); // the path check, should the port not report its close itself
    await down;
    while (clock.pending === 0) await new Promise((r) => setTimeout(r, 5));
    // Gone for a simulated minute (backoff would have reached its cap long before): looked for every 250 ms, reported once.
    const delays: number[] = [];
    const gone = clock.now();
    while (clock.now() - gone < 60_000) delays.push(await step());
    assert.equal(delays.length, 240, `looked ${delays.length} times`);
    assert.deepEqual(new Set(delays), new Set([250]), 'no backoff while the device is absent');
    // The absence is reported once (the port itself may also say "Port is not open" as it vanishes).
    const absences = errors.filter((e) => /does not exist/.test(String(e)));
    assert.equal(absences.length, 1, errors.map(String).join('\n'));

    await pty.start();
    const back = clock.now();
    const up = nextEvent(link, 'up');
    while (!link.isUp) await step();
    await up;
    assert.ok(clock.now() - back <= 250, `open ${clock.now() - back} ms after the device came back`);
    assert.equal(link.stats.reconnects, 1);
  } finally {
    await link.stop();
    await pty.dispose();
  }
});
