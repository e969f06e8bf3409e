import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, SystemClock } from '../../firmware-bridge/clock.ts';
import { isCodedError } from '../../firmware-bridge/errors.ts';
import { createLink, createMemoryPair } from '../../firmware-bridge/links/index.ts';
import { effectiveAirSpeed, parseSikParameters, setupSikRadio, sikTargets } from '../../hardware/sik-at.ts';
import { SimSikAt, serveSikAt } from '../../sim/sik-at.ts';
import { loadScenario } from '../../sim/scenario.ts';
import { serveSim } from '../../sim/serve.ts';
import { eventually, receiveBytes } from '../helpers/events.ts';
import { canopy } from '../helpers/cli.ts';
import { PtyPair } from '../helpers/pty.ts';
import { needCommand } from '../helpers/tools.ts';

/** A simulated radio on a ManualClock, its host output collected as text. */
function bench(opts: Partial<ConstructorParameters<typeof SimSikAt>[0]> = {}) {
  const clock = new ManualClock();
  let out = '';
  const air: number[] = [];
  const radio = new SimSikAt({ clock, output: (d) => (out += d.toString('latin1')), air: (d) => air.push(...d), ...opts });
  const type = (s: string) => radio.input(Buffer.from(s, 'latin1'));
  return { clock, radio, type, air, out: () => out, clear: () => (out = '') };
}

/** +++ with the documented 1 s of silence either side; asserts the OK. */
function enter(b: ReturnType<typeof bench>): void {
  b.clock.advance(1000);
  b.type('+++');
  b.clock.advance(1000);
  assert.equal(b.out(), 'OK\r\n');
  b.clear();
}

test('sim: +++ enters command mode only after 1 s of silence before it and 1 s after it', () => {
  const b = bench();
  b.clock.advance(1000);
  b.type('+++');
  b.clock.advance(999);
  assert.equal(b.out(), '', 'no OK before the second guard second is over');
  assert.equal(b.radio.commandMode, false);
  b.clock.advance(1);
  assert.equal(b.out(), 'OK\r\n');
  assert.equal(b.radio.commandMode, true);
  assert.deepEqual(b.air, [0x2b, 0x2b, 0x2b], 'the +++ itself went over the air as data, as on the real radio');
});

test('sim: data just before +++ or any byte within the second after it cancels the escape', () => {
  // Numbers are milliseconds of silence, strings are typed.
  const cases: [steps: (number | string)[], ok: boolean, why: string][] = [
    [[5000, 'x', 500, '+++', 3000], false, 'only 500 ms of silence before the +++'],
    [[1000, '+++', 500, 'y', 3000], false, 'a byte 500 ms after the +++'],
    [[1000, '++++', 3000], false, 'four pluses are data'],
    [[1000, '++', 300, '+', 1000], true, 'the pluses need not come together; the silences must'],
  ];
  for (const [steps, ok, why] of cases) {
    const b = bench();
    for (const step of steps) {
      if (typeof step === 'number') b.clock.advance(step);
      else b.type(step);
    }
    assert.equal(b.out(), ok ? 'OK\r\n' : '', why);
    assert.equal(b.radio.commandMode, ok, why);
  }
});

test('sim: commands echo upper-cased, ATI5 lists the registers, sets are checked as the firmware does', () => {
  const b = bench();
  enter(b);
  b.type('ati\r');
  assert.equal(b.out(), 'ATI\r\nSiK 2.2 on HM-TRP\r\n');
  b.clear();
  b.type('ATI5\r');
  const lines = b.out().split('\r\n');
  assert.equal(lines[0], 'ATI5');
  assert.equal(lines[1], 'S0: FORMAT=25');
  assert.equal(lines[4], 'S3: NETID=25');
  assert.equal(lines[16], 'S15: MAX_WINDOW=131');
  const params = parseSikParameters(lines);
  assert.equal(params.size, 16);
  assert.deepEqual(params.get('AIR_SPEED'), { register: 2, value: 64 });

  const reply = (cmd: string) => {
    b.clear();
    b.type(`${cmd}\r`);
    return b.out().split('\r\n').slice(1, -1);
  };
  assert.deepEqual(reply('ATS0=26'), ['ERROR'], 'FORMAT cannot be set');
  assert.deepEqual(reply('ATS1=50'), ['ERROR'], '50 is not a one-byte serial speed');
  assert.deepEqual(reply('ATS4=30'), ['ERROR'], 'above the 20 dBm board maximum');
  assert.deepEqual(reply('ATS4=12'), ['OK']);
  assert.deepEqual(reply('ATS4?'), ['14'], 'TXPOWER snaps up to the next power step');
  assert.deepEqual(reply('ATS5=2'), ['ERROR'], 'ECC is 0 or 1');
  assert.deepEqual(reply('ATS16?'), ['ERROR'], 'no such register');
  assert.deepEqual(reply('ATX'), ['ERROR']);

  // AIR_SPEED 100 is taken, stored, and becomes 128 (the next supported rate) at the next boot.
  assert.deepEqual(reply('ATS2=100'), ['OK']);
  assert.deepEqual(reply('ATS2?'), ['100']);
  assert.deepEqual(reply('ATS3=7'), ['OK']);
  assert.deepEqual(reply('AT&W'), ['OK']);
  assert.deepEqual(reply('ATS3=8'), ['OK'], 'set but not written: lost on reboot');
  b.clear();
  b.type('ATZ\r');
  assert.equal(b.radio.commandMode, false, 'ATZ leaves command mode');
  b.clock.advance(200);
  assert.equal(b.radio.reboots, 1);
  assert.equal(b.radio.get('AIR_SPEED'), 128);
  assert.equal(b.radio.get('NETID'), 7);
  assert.equal(effectiveAirSpeed(100), 128);
  assert.equal(effectiveAirSpeed(300), 250);
  assert.deepEqual(b.radio.radioOptions(), { baud: 57600, radioStatus: true });
});

test('sim: a command line longer than 16 characters drops the radio back to data mode', () => {
  const b = bench();
  enter(b);
  b.type('AT'.padEnd(20, 'X'));
  assert.equal(b.radio.commandMode, false);
});

test('sim: ECC halves the air rate and MAVLINK=0 turns RADIO_STATUS off in the link model', () => {
  const b = bench({ eeprom: { AIR_SPEED: 24, ECC: 1, MAVLINK: 0 } });
  assert.deepEqual(b.radio.radioOptions(), { baud: 12000, radioStatus: false });
});

test('setup requests are checked before anything is sent: unsupported air speeds are refused, not rounded', () => {
  assert.throws(() => sikTargets({ airSpeed: 100 }), (e) => isCodedError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /2, 4, 8, 16, 19, 24, 32, 48, 64, 96, 128, 192, 250/.test(e.message));
  assert.throws(() => sikTargets({ netid: 70000 }), (e) => isCodedError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
  assert.deepEqual(sikTargets({ netid: 42, ecc: false }), [
    { name: 'NETID', value: 42 },
    { name: 'ECC', value: 0 },
  ]);
});

const GUARD = 40;
const clock = new SystemClock();
// SystemClock timers are unref'd; memory links hold nothing open, so keep the loop alive meanwhile.
const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

/** A client link and a simulated radio joined in memory (the pty path is tested below). */
async function memoryRadio(opts: Partial<ConstructorParameters<typeof SimSikAt>[0]> = {}) {
  const [host, device] = createMemoryPair('host', 'radio');
  await host.start();
  await device.start();
  const radio = serveSikAt(device, { clock, guardMs: GUARD, bootMs: 20, ...opts });
  return { host, radio };
}

test('setup: no answer to +++ is a clear error naming the fixes', async () => {
  const { host } = await memoryRadio({ deaf: true });
  await assert.rejects(setupSikRadio(host, { netid: 3 }, { clock, guardMs: GUARD, replyMs: 200, device: '/dev/ttyUSB0' }), (e) => isCodedError(e, 'CANOPY_ERR_RADIO_NO_ANSWER') && /baud rate/.test(e.message) && /nothing else/.test(e.message));
});

test('setup: a refused value saves nothing and reboots the radio into its old settings', async () => {
  const { host, radio } = await memoryRadio({ maxTxPower: 17, eeprom: { TXPOWER: 11 } });
  await assert.rejects(setupSikRadio(host, { netid: 9, txPower: 20 }, { clock, guardMs: GUARD, device: 'radio' }), (e) => isCodedError(e, 'CANOPY_ERR_RADIO_REFUSED') && /TXPOWER=20/.test(e.message));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(radio.reboots, 1);
  assert.equal(radio.get('NETID'), 25, 'NETID was set in RAM but never written: the reboot dropped it');
  assert.equal(radio.log.includes('AT&W'), false);
});

test('setup: a value the radio acknowledges but does not keep fails the read-back', async () => {
  const { host } = await memoryRadio({ ignoreSets: [3] });
  await assert.rejects(setupSikRadio(host, { netid: 9 }, { clock, guardMs: GUARD, device: 'radio' }), (e) => isCodedError(e, 'CANOPY_ERR_RADIO_VERIFY') && /NETID=25 after 9/.test(e.message));
});

test('setup: values already set are left alone, without writing or rebooting', async () => {
  const { host, radio } = await memoryRadio({ eeprom: { NETID: 9 } });
  const r = await setupSikRadio(host, { netid: 9 }, { clock, guardMs: GUARD, device: 'radio' });
  assert.equal(r.rebooted, false);
  assert.deepEqual(radio.log, ['ATI', 'ATI5', 'ATO']);
  assert.equal(radio.commandMode, false);
});

test('setup: a radio left in command mode by an earlier run is picked up with a bare AT', async () => {
  const { host, radio } = await memoryRadio();
  radio.commandMode = true;
  const r = await setupSikRadio(host, { netid: 12 }, { clock, guardMs: GUARD, device: 'radio' });
  assert.equal(r.rebooted, true);
  assert.deepEqual(radio.log.slice(0, 3), ['+++', 'AT', 'ATI'], 'the "+++" line ends unanswered, AT gets OK');
  assert.equal(radio.eeprom[3], 12);
});

test('setup --remote: the far radio is set first over RT commands, then the near one', async () => {
  const { host, radio } = await memoryRadio();
  const far = new SimSikAt({ clock, output: () => {}, guardMs: GUARD, bootMs: 20 });
  radio.link(far);
  const lines: string[] = [];
  const r = await setupSikRadio(host, { netid: 77, airSpeed: 128 }, { clock, guardMs: GUARD, device: 'radio', remote: true, progress: (l) => lines.push(l) });
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.remote?.rebooted, true);
  assert.deepEqual([far.get('NETID'), far.get('AIR_SPEED'), far.reboots], [77, 128, 1]);
  assert.deepEqual([radio.get('NETID'), radio.get('AIR_SPEED'), radio.reboots], [77, 128, 1]);
  assert.ok(radio.log.indexOf('RT&W') < radio.log.indexOf('AT&W'), 'remote written before local');
  assert.ok(radio.log.indexOf('RTZ') < radio.log.indexOf('ATS3=77'), 'remote rebooted before the local radio changes');
  assert.ok(lines.some((l) => l.startsWith('remote radio: SiK')));
});

test('canopy radio setup over a pseudo-terminal: reads, sets, writes, verifies and reboots the radio', { timeout: 20_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  const device = createLink(`serial:${pty.a}?baud=57600`, { clock });
  await device.start();
  const radio = serveSikAt(device, { clock, guardMs: 200, bootMs: 20 });
  try {
    const r = await canopy('radio', 'setup', pty.b, '--netid', '42', '--air-speed', '128', '--ecc', '--no-mavlink', '--guard-ms', '200');
    assert.equal(r.code, 0, r.stderr);
    // The last line may still be on its way through the pty when the command has exited.
    await eventually(() => radio.log.at(-1) === 'ATZ', 5000, 'ATZ received');
    assert.deepEqual(radio.log, ['ATI', 'ATI5', 'ATS3=42', 'ATS2=128', 'ATS5=1', 'ATS6=0', 'AT&W', 'ATS3?', 'ATS2?', 'ATS5?', 'ATS6?', 'ATZ']);
    assert.deepEqual([radio.eeprom[3], radio.eeprom[2], radio.eeprom[5], radio.eeprom[6]], [42, 128, 1, 0]);
    assert.match(r.stderr, /local radio: SiK 2\.2 on HM-TRP/);
    assert.match(r.stderr, /NETID 25 -> 42/);
    assert.match(r.stderr, /read back: NETID=42, AIR_SPEED=128, ECC=1, MAVLINK=0/);
    assert.match(r.stdout, /local: NETID=42 \(was 25\), AIR_SPEED=128 \(was 64\), ECC=1 \(was 0\), MAVLINK=0 \(was 1\); rebooted/);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(radio.reboots, 1);
    assert.deepEqual(radio.radioOptions(), { baud: 57600, radioStatus: false });

    const show = await canopy('radio', 'show', pty.b, '--guard-ms', '200');
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^SiK 2\.2 on HM-TRP$/m);
    assert.match(show.stdout, /^S3\tNETID\t42$/m);

    const bad = await canopy('radio', 'setup', pty.b, '--air-speed', '100');
    assert.equal(bad.code, 64, 'EX_USAGE');
    assert.match(bad.stderr, /--air-speed must be one of/);
  } finally {
    await device.stop();
    await pty.dispose();
  }
});

test('canopy radio setup: a device that is not there is named, with the fix', async () => {
  const r = await canopy('radio', 'setup', '/dev/ttyCANOPY-none', '--netid', '1');
  assert.equal(r.code, 66, 'EX_NOINPUT');
  assert.match(r.stderr, /does not exist.*by-id.*CANOPY_ERR_SERIAL_NOT_FOUND/s);
});

test('canopy sim serve: the simulated ground radio answers AT commands with the real 1 s guard time, then passes MAVLink again', { timeout: 60_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  t.after(() => pty.dispose());
  const base = loadScenario('clear-summer-day');
  const served = await serveSim({ ...base, swarm: { ...base.swarm, drones: 2 } }, { seed: 3, urls: [`serial:${pty.a}?baud=57600`] });
  t.after(() => served.stop());
  const show = await canopy('radio', 'show', pty.b);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^S1\tSERIAL_SPEED\t57$/m);
  assert.match(show.stdout, /^S6\tMAVLINK\t1$/m);
  // ATO: back in data mode, the drones' MAVLink 2 frames come through.
  const host = createLink(`serial:${pty.b}?baud=57600`, { clock });
  await host.start();
  t.after(() => host.stop());
  const bytes = await receiveBytes(host, 300, 15_000);
  assert.ok(bytes.includes(0xfd), 'MAVLink 2 frames after ATO');
});
