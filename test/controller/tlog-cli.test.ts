import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minimal } from 'mavlink-mappings';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { tlogRecord } from '../../firmware-bridge/tlog.ts';
import { canopy } from '../helpers/cli.ts';
import { countsById, fixtureFigures, fixturePath, type MavlinkFigures } from '../helpers/fixtures.ts';
import { needReference } from '../helpers/tools.ts';

const T0 = Date.UTC(2026, 5, 1);

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-tlog-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function heartbeats(n: number, sysid = 1): Buffer[] {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  return Array.from({ length: n }, (_, i) => encodeFrame(hb, { sysid, compid: 1, seq: i }));
}

test('tlog info on the PX4 SITL session: every system, message type and unknown id with pymavlink\'s counts, most frequent first', async () => {
  const figures = fixtureFigures<MavlinkFigures>('mavlink/px4-sitl.tlog');
  const { code, stdout, stderr } = await canopy('tlog', 'info', fixturePath('mavlink/px4-sitl.tlog'));
  assert.equal(code, 0, stderr);
  assert.match(stdout, new RegExp(`^frames\\s+${figures.records}$`, 'm'));
  const seconds = (figures.last_us - figures.first_us) / 1e6;
  assert.match(stdout, new RegExp(`^duration\\s+${seconds.toFixed(1).replace('.', '\\.')} s \\(${new Date(figures.first_us / 1000).toISOString()} to `, 'm'));
  assert.match(stdout, /^errors\s+none$/m);
  for (const [source, count] of Object.entries(figures.sources)) assert.match(stdout, new RegExp(`^${source}\\s+${count}$`, 'm'), source);
  const rows = [...stdout.matchAll(/^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\d+)\s+[\d.]+$/gm)].map((m) => ({ name: m[1]!, id: m[2]!, count: Number(m[3]) }));
  const unknown = [...stdout.split(/^unknown id\s+count$/m)[1]!.matchAll(/^(\d+)\s+(\d+)$/gm)].map((m) => ({ id: m[1]!, count: Number(m[2]) }));
  assert.ok(unknown.length > 0, 'PX4 sends ids outside our dialects');
  assert.deepEqual(Object.fromEntries([...rows, ...unknown].map((r) => [r.id, r.count])), countsById(figures));
  for (const r of rows) if (figures.messages[r.id]) assert.equal(r.name, figures.messages[r.id]!.name);
  assert.deepEqual(rows.map((r) => r.count), rows.map((r) => r.count).sort((a, b) => b - a));
});

test('extra, reference VTOL tlog: tlog info names every message type with its count, most frequent first', async (t) => {
  const path = needReference(t, 'mavlink/vtol.tlog');
  if (!path) return;
  const { code, stdout, stderr } = await canopy('tlog', 'info', path);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^frames\s+23894$/m);
  assert.match(stdout, /^duration\s+3 min 27\.6 s/m);
  assert.match(stdout, /^errors\s+none$/m);
  assert.match(stdout, /^1\/1\s+23894$/m);
  assert.match(stdout, /^PARAM_VALUE\s+22\s+1147\s+5\.52$/m);
  assert.match(stdout, /^HEARTBEAT\s+0\s+\d+/m);
  assert.match(stdout, /^unknown ids none$/m);
  const counts = [...stdout.matchAll(/^[A-Z][A-Z0-9_]+\s+\d+\s+(\d+)\s+[\d.]+$/gm)].map((m) => Number(m[1]));
  assert.ok(counts.length > 30, `${counts.length} message rows`);
  assert.equal(counts.reduce((a, b) => a + b, 0), 23894);
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
});

test('tlog info reports unknown ids, several systems and damage', async (t) => {
  const unknown = Buffer.from([0xfd, 1, 0, 0, 0, 7, 1, 0x50, 0xc3, 0, 42, 0, 0]);
  unknown.writeUInt16LE(frameCrc(unknown, 1, 11, 0), 11);
  const frames = [...heartbeats(3, 1), unknown, ...heartbeats(2, 2)];
  const records = frames.map((f, i) => tlogRecord(T0 + i * 500, f));
  const damaged = Buffer.concat([...records.slice(0, 2), Buffer.from('garbage!'), ...records.slice(2)]);
  const path = join(tempDir(t), 'mixed.tlog');
  writeFileSync(path, damaged);
  const { code, stdout } = await canopy('tlog', 'info', path);
  assert.equal(code, 0);
  assert.match(stdout, /^frames\s+6$/m);
  assert.match(stdout, /^errors\s+1 damaged stretch\(es\), 8 bytes skipped$/m);
  assert.match(stdout, /^1\/1\s+3$/m);
  assert.match(stdout, /^2\/1\s+2$/m);
  assert.match(stdout, /^7\/1\s+1$/m);
  assert.match(stdout, /^HEARTBEAT\s+0\s+5\s+2\.00$/m);
  assert.match(stdout, /^unknown id\s+count\n50000\s+1$/m);
});

test('tlog info never dies: random bytes, timestamps of 2^64-1 and runs of 0xFD are named, not thrown', async (t) => {
  const dir = tempDir(t);
  let seed = 7;
  const random = Buffer.alloc(256 * 1024, 0).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
  const hb = heartbeats(2);
  const far = Buffer.concat([Buffer.alloc(8, 0xff), hb[0]!, Buffer.alloc(8, 0), hb[1]!]);
  for (const [name, bytes] of [['random', random], ['far', far], ['fd', Buffer.alloc(256 * 1024, 0xfd)], ['empty', Buffer.alloc(0)]] as const) {
    const path = join(dir, `${name}.tlog`);
    writeFileSync(path, bytes);
    const { code, stdout, stderr } = await canopy('tlog', 'info', path);
    assert.equal(code, 0, `${name}: ${stderr}`);
    assert.doesNotMatch(stderr, /Error|at /, name);
    assert.match(stdout, /^errors\s+/m, name);
  }
  const { stdout } = await canopy('tlog', 'info', join(dir, 'far.tlog'));
  assert.match(stdout, /18446744073709551615 µs \(not a date\)/);
  assert.match(stdout, /^duration\s+unknown \(the timestamps go backwards\)/m);
  const fd = await canopy('tlog', 'info', join(dir, 'fd.tlog'));
  assert.match(fd.stdout, /^errors\s+1 damaged stretch\(es\), 262144 bytes skipped$/m);
});

test('tlog replay --speed max sends every frame, byte for byte, to the URL and shows progress', async (t) => {
  const frames = heartbeats(40);
  const path = join(tempDir(t), 'short.tlog');
  writeFileSync(path, Buffer.concat(frames.map((f, i) => tlogRecord(T0 + i * 100, f))));
  const listener = createSocket('udp4');
  t.after(() => listener.close());
  const got: Buffer[] = [];
  listener.on('message', (msg) => got.push(msg));
  await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve));
  const { code, stderr } = await canopy('tlog', 'replay', path, '--speed', 'max', '--to', `udpout://127.0.0.1:${listener.address().port}`);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /replayed 40\/40 frames to udpout:\/\/127\.0\.0\.1:\d+/);
  // Loopback datagrams are in flight for a moment after the child exits.
  for (let i = 0; i < 100 && got.length < frames.length; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(got, frames);
});

test('tlog usage errors are explained, with their codes', async () => {
  const missing = await canopy('tlog', 'info', '/nonexistent/flight.tlog');
  assert.equal(missing.code, 65, 'EX_DATAERR');
  assert.match(missing.stderr, /cannot read \/nonexistent\/flight\.tlog.*\[CANOPY_ERR_TLOG\]/);
  const speed = await canopy('tlog', 'replay', 'x.tlog', '--speed', 'fast');
  assert.equal(speed.code, 64, 'EX_USAGE');
  assert.match(speed.stderr, /--speed must be a positive number or "max", got "fast" \[CANOPY_ERR_BAD_ARGUMENT\]/);
  const verb = await canopy('tlog', 'frob', 'x.tlog');
  assert.match(verb.stderr, /unknown tlog command "frob"/);
  const help = await canopy('tlog', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /canopy tlog info FILE/);
});
