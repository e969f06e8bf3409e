/**
 * The error codes of every layer and the one table of exit codes: every code has its exit code
 * (sysexits.h), and `canopy` exits with it (through the real CLI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAVLINK_ERROR_CODES, MavlinkError } from '../../firmware-bridge/errors.ts';
import { HARDWARE_ERROR_CODES, HardwareError } from '../../hardware/errors.ts';
import { CanopyError, CONTROLLER_ERROR_CODES, ERROR_CODES, EXIT_CODES, exitCodeOf } from '../../common/errors.ts';
import { canopy } from '../helpers/cli.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { repoRoot } from '../helpers/tools.ts';

const SYSEXITS = new Set([64, 65, 66, 69, 70, 73, 74, 75, 77, 78, 130]);

test('each code is declared by one layer, and every code has a sysexits exit code', () => {
  const declared = [MAVLINK_ERROR_CODES, HARDWARE_ERROR_CODES, CONTROLLER_ERROR_CODES].flatMap((table) => Object.keys(table));
  assert.equal(new Set(declared).size, declared.length, 'no code is in two tables');
  assert.deepEqual(Object.keys(ERROR_CODES).sort(), [...declared].sort());
  assert.deepEqual(Object.keys(EXIT_CODES).sort(), [...declared].sort());
  for (const [code, exit] of Object.entries(EXIT_CODES)) assert.ok(SYSEXITS.has(exit), `${code} exits ${exit}`);
});

test('arguments, states, absences and configuration exit differently; an uncoded error is internal', () => {
  assert.equal(exitCodeOf(new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', 'sysid 300')), 64);
  assert.equal(exitCodeOf(new HardwareError('CANOPY_ERR_RADIO_NO_ANSWER', 'no OK after +++')), 69);
  assert.equal(exitCodeOf(new CanopyError('CANOPY_ERR_UNAVAILABLE', 'not on this site')), 69);
  assert.equal(exitCodeOf(new CanopyError('CANOPY_ERR_STATE', 'the mesh is not started')), 70);
  assert.equal(exitCodeOf(new CanopyError('CANOPY_ERR_NOT_FOUND', 'no such file')), 66);
  assert.equal(exitCodeOf(new CanopyError('CANOPY_ERR_CONFIG', 'invalid configuration')), 78);
  assert.equal(exitCodeOf(new MavlinkError('CANOPY_ERR_TIMEOUT', 'no HEARTBEAT')), 75);
  assert.equal(exitCodeOf(new Error('a bug')), 70);
});

/** Every file of the repository that may name a code. */
function sources(dir = repoRoot): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sources(path);
    return /\.(ts|js|md|yaml)$/.test(e.name) ? [path] : [];
  });
}

test('every CANOPY_ERR_ name in the sources, tests and docs is a declared code', () => {
  // isCodedError takes any string, so a misspelt code would quietly never match.
  const unknown = sources().flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/CANOPY_ERR_[A-Z0-9_]+/g)].map((m) => m[0]).filter((code) => !(code in ERROR_CODES)).map((code) => `${file}: ${code}`));
  assert.deepEqual(unknown, []);
});

test('canopy exits with the code of its error', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bad.yaml'), 'sysid: 300\n');
  const config = await canopy('config', 'print', join(dir, 'bad.yaml'));
  assert.equal(config.code, 78, 'EX_CONFIG');
  assert.match(config.stderr, /sysid: 300; allowed: a number at most 255 \[CANOPY_ERR_CONFIG\]/);

  const option = await canopy('tlog', 'info', 'x.tlog', '--bogus');
  assert.equal(option.code, 64, 'EX_USAGE');
  assert.match(option.stderr, /Unknown option '--bogus'.*"canopy tlog --help" lists the options\) \[CANOPY_ERR_BAD_ARGUMENT\]/);
  assert.doesNotMatch(option.stderr, /\n\s+at /, 'no stack trace');

  const user = await canopy('user', 'remove', 'nobody', '--data', join(dir, 'data'));
  assert.equal(user.code, 66, 'EX_NOINPUT');
  assert.match(user.stderr, /no mesh user "nobody"; known: admin \[CANOPY_ERR_NOT_FOUND\]/);

  writeFileSync(join(dir, 'canopy.yaml'), 'dataDir: data\nlinks: { gcs: [] }\n');
  writeFileSync(join(dir, 'net.key'), 'swarm key');
  const port = await freePort();
  const signing = (...args: string[]) => canopy('signing', 'setup', '--link', `udpin://127.0.0.1:${port}`, '--sysid', '1', '--config', join(dir, 'canopy.yaml'), ...args);
  const noKey = await signing('--key-file', join(dir, 'nope.key'));
  assert.equal(noKey.code, 66, 'EX_NOINPUT');
  assert.match(noKey.stderr, /--key-file: cannot read ".*nope\.key" \(ENOENT\) \[CANOPY_ERR_NOT_FOUND\]/);
  const silent = await signing('--key-file', join(dir, 'net.key'), '--timeout', '0.5');
  assert.equal(silent.code, 75, 'EX_TEMPFAIL');
  assert.match(silent.stderr, /no HEARTBEAT from system 1 .* within 0\.5 s \[CANOPY_ERR_TIMEOUT\]/);
});

test("docs/errors.md's table of exit codes lists every code under its exit code", () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const listed = new Map<string, number>();
  for (const [, exit, codes] of doc.matchAll(/^\| (\d+) \| [^\n]* \| ([^|\n]*) \|$/gm)) {
    for (const [code] of codes!.matchAll(/CANOPY_ERR_[A-Z0-9_]+/g)) listed.set(code, Number(exit));
  }
  assert.deepEqual(Object.fromEntries([...listed].sort()), Object.fromEntries(Object.entries(EXIT_CODES).sort()));
});
