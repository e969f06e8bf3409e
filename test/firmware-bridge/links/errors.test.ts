import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLink, parseLinkUrl, serialOpenError, type TcpServerLink, type UdpInLink } from '../../../firmware-bridge/links/index.ts';
import { isCodedError, type MavlinkErrorCode } from '../../../firmware-bridge/errors.ts';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { repoRoot } from '../../helpers/tools.ts';

/** An assert.rejects/throws validator: a CanopyError with `code` whose message matches every pattern. */
function canopyError(code: MavlinkErrorCode, ...patterns: RegExp[]) {
  return (e: unknown): boolean => {
    if (!isCodedError(e, code)) assert.fail(`expected ${code}, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

test('malformed link URLs name the part that is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /the URL is empty/],
    ['/dev/ttyUSB0', /the scheme is missing/],
    ['ftp://host:1', /the scheme "ftp" is not supported/],
    ['serial:', /the device path is empty/],
    ['serial:/dev/ttyUSB0?baud=12345', /the baud rate "12345"/],
    ['serial:/dev/ttyUSB0?speed=57600', /the query parameter "speed"/],
    ['udpin:0.0.0.0:14550', /the address must follow "udpin:\/\/"/],
    ['tcp://localhost', /the address "localhost" is not host:port/],
    ['udpout://127.0.0.1:70000', /the port "70000" is out of range/],
    ['tcp://127.0.0.1:0', /the port "0" is out of range/],
  ];
  for (const [url, why] of cases) {
    assert.throws(() => createLink(url), canopyError('CANOPY_ERR_LINK_URL', why), url);
  }
  assert.deepEqual(parseLinkUrl('serial:/dev/ttyAMA0'), { kind: 'serial', path: '/dev/ttyAMA0', baud: 57600 });
  assert.deepEqual(parseLinkUrl('udpin://[::1]:14550'), { kind: 'udpin', host: '::1', port: 14550 });
});

test('a memory URL says to build the pair with createMemoryPair', () => {
  assert.throws(() => createLink('memory:sim'), canopyError('CANOPY_ERR_LINK_URL', /createMemoryPair/, /memory:sim/));
});

test('a serial device that does not exist names the path and how to find the radio', async () => {
  const path = '/dev/canopy-no-such-radio';
  const link = createLink(`serial:${path}?baud=57600`);
  await assert.rejects(link.start(), canopyError('CANOPY_ERR_SERIAL_NOT_FOUND', new RegExp(`${path} does not exist`), /ls \/dev\/serial\/by-id/));
  assert.equal(link.isUp, false);
  await link.stop();
});

test('waitForDevice: a missing serial device does not fail start(); the link stays down and retries with backoff', async () => {
  const clock = new ManualClock();
  const link = createLink('serial:/dev/canopy-no-such-radio', { clock, waitForDevice: true });
  const errors: unknown[] = [];
  link.on('error', (e) => errors.push(e));
  await link.start();
  assert.equal(link.isUp, false);
  assert.equal(clock.pending, 1, 'a reopen is scheduled');
  await clock.advanceAsync(249);
  assert.equal(errors.length, 0, 'no retry before the first backoff step (250 ms)');
  const retried = new Promise<unknown>((resolve) => link.once('error', resolve));
  clock.advance(1);
  assert.ok(isCodedError(await retried, 'CANOPY_ERR_SERIAL_NOT_FOUND'));
  await link.stop();
  assert.equal(clock.pending, 0, 'stop() cancels the retry');
});

// The binding's wording for EACCES (serialport_unix.cpp: "Error: %s, cannot open %s").
test('no permission on a serial device says which group to join', () => {
  const err = serialOpenError('/dev/ttyUSB0', new Error('Error: Permission denied, cannot open /dev/ttyUSB0'));
  canopyError('CANOPY_ERR_SERIAL_PERMISSION', /\/dev\/ttyUSB0/, /dialout group/, /sudo usermod -aG dialout \$USER/, /log in again/)(err);
});

/** Root may open any file, so as root the open runs in a child process as the unprivileged user "nobody". */
const OPEN_AS_NOBODY = `
  const { createLink } = await import(${JSON.stringify(new URL('../../../firmware-bridge/links/index.ts', import.meta.url).href)});
  try { await createLink('serial:' + process.argv[1]).start(); console.log(JSON.stringify({ opened: true })); }
  catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;

test('no permission on a real device node is reported as such', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-perm-'));
  chmodSync(dir, 0o755);
  const path = join(dir, 'ttyLOCKED');
  writeFileSync(path, '');
  chmodSync(path, 0o000);
  try {
    if (process.getuid?.() !== 0) {
      await assert.rejects(createLink(`serial:${path}`).start(), canopyError('CANOPY_ERR_SERIAL_PERMISSION', /dialout/));
      return;
    }
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', OPEN_AS_NOBODY, path], { cwd: repoRoot, uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { code?: string; message?: string };
    assert.equal(got.code, 'CANOPY_ERR_SERIAL_PERMISSION');
    assert.match(got.message!, /dialout/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a port in use is reported for udpin and tcpin, naming the port', async () => {
  const udp = createLink('udpin://127.0.0.1:0') as UdpInLink;
  await udp.start();
  const tcp = createLink('tcpin://127.0.0.1:0') as TcpServerLink;
  await tcp.start();
  try {
    const udpUrl = `udpin://127.0.0.1:${udp.boundPort}`;
    await assert.rejects(createLink(udpUrl).start(), canopyError('CANOPY_ERR_PORT_IN_USE', new RegExp(`UDP port ${udp.boundPort} of ${udpUrl} is already in use`)));
    const tcpUrl = `tcpin://127.0.0.1:${tcp.boundPort}`;
    await assert.rejects(createLink(tcpUrl).start(), canopyError('CANOPY_ERR_PORT_IN_USE', new RegExp(`TCP port ${tcp.boundPort} of ${tcpUrl} is already in use`)));
  } finally {
    await udp.stop();
    await tcp.stop();
  }
});
