/**
 * canopy.yaml as a Pi owner meets it: every problem at once with its path, the value and what is
 * allowed; the format version; secrets from the environment (winning over the file, never
 * echoed); the search order; `canopy config check|print`; and `canopy start` refusing a bad file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { isCanopyError } from '../../common/errors.ts';
import { duration } from '../../common/duration.ts';
import { ConfigSchema, findConfig, parseConfig, relayOptions } from '../../controller/config.ts';
import { formatDuration, printable } from '../../controller/config-issues.ts';
import { canopy, canopyBin } from '../helpers/cli.ts';

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'canopy.yaml', '.', env);
  } catch (e) {
    assert.ok(isCanopyError(e, 'CANOPY_ERR_CONFIG'), String(e));
    return e.message.split('\n').slice(1).map((l) => l.trim());
  }
  assert.fail('the configuration was accepted');
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const RELAY = 'relay: { origin: farm-7, upstream: { url: "mqtts://cloud.example:8883", username: farm7, password: from-file } }\n';

test('every problem is listed at once with its path, the value found and what is allowed', () => {
  const lines = problems(
    [
      'sysid: 0',
      'colour: blue',
      'links: { drones: ["serial:/dev/ttyUSB0?baud=12345"] }',
      'mesh: { mqtt: { port: 70000 }, websocket: 5, anonymousRole: admin }',
      'relay: { origin: "my site", upstream: { url: "mqtt://x", usr: a }, classes: { bulk: { ttl: 3x } } }',
    ].join('\n'),
  );
  assert.deepEqual(lines, [
    'sysid: 0; allowed: a number at least 1',
    'links.drones.0: "serial:/dev/ttyUSB0?baud=12345"; bad link URL "serial:/dev/ttyUSB0?baud=12345": the baud rate "12345" is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 1500000. Examples: serial:/dev/ttyUSB0?baud=57600, udpin://0.0.0.0:14550, udpout://127.0.0.1:14550, tcp://127.0.0.1:5760, tcpin://0.0.0.0:5760',
    'mesh.mqtt.port: 70000; allowed: a number at most 65535',
    'mesh.websocket: 5; allowed: a mapping (key: value), or false',
    'mesh.anonymousRole: "admin"; allowed: one of "viewer", "phone", "neighbour"',
    'relay.origin: "my site"; allowed: letters, digits, "_", "." or "-"',
    'relay.upstream.usr: unknown field; known here: url, username, password, tls, protocolVersion, topicPrefix, keepalive',
    'relay.classes.bulk.ttl: "3x"; "3x" is not a duration (write e.g. 90s, 15m, 2h30m, 7d)',
    'colour: unknown field; known here: ' + Object.keys(ConfigSchema.shape).join(', '),
  ]);
  assert.deepEqual(problems('relay: {}'), ['relay.origin: missing; required: a string', 'relay.upstream: missing; required: a mapping (key: value)']);
  assert.deepEqual(problems('- just a list'), ['(top level): ["just a list"]; allowed: a mapping (key: value)']);
});

test('the same link twice and port 0 are refused with their paths', () => {
  const found = problems(
    [
      'links:',
      '  drones: ["serial:/dev/ttyUSB0", "tcp://127.0.0.1:5760", "udpin://0.0.0.0:0"]',
      '  gcs: ["tcp://127.0.0.1:5760", "serial:/dev/ttyUSB0?baud=115200", "udpout://127.0.0.1:14550"]',
      'mesh: { mqtt: { port: 0 } }',
      'dashboard: { port: 0 }',
    ].join('\n'),
  );
  assert.deepEqual(found, [
    'links.drones.2: "udpin://0.0.0.0:0"; port 0 in "udpin://0.0.0.0:0" would pick a different port at every start: name a port from 1 to 65535',
    'links.gcs.0: "tcp://127.0.0.1:5760"; the same link as links.drones.1: each device or port once',
    'links.gcs.1: "serial:/dev/ttyUSB0?baud=115200"; the same link as links.drones.0: each device or port once',
    'mesh.mqtt.port: 0; allowed: a number at least 1',
    'dashboard.port: 0; allowed: a number at least 1',
  ]);
});

test('the format is versioned: absent means 1, a newer version is refused by name', () => {
  assert.equal(parseConfig('{}', 'c.yaml', '.', {}).version, 1);
  assert.equal(parseConfig('version: 1', 'c.yaml', '.', {}).version, 1);
  assert.throws(() => parseConfig('version: 2\nwhatever: [1]', 'c.yaml', '.', {}), /configuration version 2 is newer than this Canopy reads \(version 1\)/);
  assert.deepEqual(problems('version: "one"'), ['version: "one"; allowed: 1']);
  assert.deepEqual(problems('version: 0'), ['version: 0; allowed: 1']);
});

test('secrets from the environment win over the file, apply only where configured, and are never echoed', () => {
  const fromFile = parseConfig(RELAY, 'c.yaml', '.', {});
  assert.equal(relayOptions(fromFile)!.upstream.password, 'from-file');
  assert.deepEqual(fromFile.envOverrides, []);

  const env = { CANOPY_RELAY_PASSWORD: 'env-secret-1', CANOPY_REDIS_PASSWORD: 'env-secret-2' };
  const c = parseConfig(`${RELAY}mesh: { redis: { host: 127.0.0.1 } }`, 'c.yaml', '.', env);
  assert.equal(relayOptions(c)!.upstream.password, 'env-secret-1');
  assert.equal(c.mesh.redis?.password, 'env-secret-2');
  assert.deepEqual(c.envOverrides, ['CANOPY_RELAY_PASSWORD', 'CANOPY_REDIS_PASSWORD']);

  // No relay, no Redis in the file: the variables configure nothing.
  const bare = parseConfig('{}', 'c.yaml', '.', env);
  assert.equal(bare.relay, undefined);
  assert.equal(bare.mesh.redis, undefined);
  assert.deepEqual(bare.envOverrides, []);
  // An empty variable is not set.
  assert.equal(relayOptions(parseConfig(RELAY, 'c.yaml', '.', { CANOPY_RELAY_PASSWORD: '' }))!.upstream.password, 'from-file');

  // A wrong secret is named, not shown.
  const lines = problems('relay: { origin: a, upstream: { url: "mqtt://x", password: 12345678 } }');
  assert.deepEqual(lines, ['relay.upstream.password: (a secret, not shown); allowed: a string']);
  const withEnv = problems('relay: { origin: "a b", upstream: { url: "mqtt://x" } }', env);
  assert.ok(!withEnv.join('\n').includes('env-secret'), withEnv.join('\n'));
});

test('the file is looked for in order: the first that exists wins; none: undefined', (t) => {
  const dir = tempDir(t);
  const etc = join(dir, 'etc', 'canopy.yaml');
  const search = ['canopy.yaml', etc];
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  mkdirSync(join(dir, 'etc'));
  assert.equal(findConfig(search, cwd), undefined);
  writeFileSync(etc, '{}');
  assert.equal(findConfig(search, cwd), etc);
  writeFileSync(join(cwd, 'canopy.yaml'), '{}');
  assert.equal(findConfig(search, cwd), join(cwd, 'canopy.yaml'));
});

test('config print gives the effective file back: it reads as the same configuration, durations as written', () => {
  const text = `${RELAY.replace('password: from-file', 'keepalive: 90s')}mesh: { mqtt: { port: 1884 } }\nlinks: { drones: ["serial:/dev/canopy-radio-A?baud=57600"] }\n`.replace('} }\n', '}, dish: { watts: 75, boot: 1h30m }, classes: { bulk: { ttl: 30d }, control: { ttl: null } } }\n');
  const c = parseConfig(text, 'c.yaml', '.', {});
  const { dir: _d, envOverrides: _e, ...effective } = c;
  const printed = stringify(printable(ConfigSchema, effective, duration));
  assert.match(printed, /keepalive: 1m30s/);
  assert.match(printed, /boot: 1h30m/);
  assert.match(printed, /ttl: 30d/);
  const again = parseConfig(printed, 'printed.yaml', '.', {});
  assert.deepEqual(again, c);
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(86_400_000 + 61_000), '1d1m1s');
});

test('canopy config check: ok with a summary, or every problem and exit 1; print hides secrets', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, `version: 1\ndataDir: /var/lib/canopy\nlinks: { drones: ["serial:/dev/canopy-radio-A"] }\n${RELAY}`);
  const ok = await canopy('config', 'check', good);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^ok: ${good} \\(configuration version 1\\)`));
  assert.match(ok.stdout, /drones on: serial:\/dev\/canopy-radio-A \(sysid 255\)/);
  assert.match(ok.stdout, /data directory: \/var\/lib\/canopy/);
  assert.match(ok.stdout, /relay: "farm-7" to mqtts:\/\/cloud\.example:8883 \(with a password\)/);
  assert.ok(!ok.stdout.includes('from-file'));

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'sysid: 300\nmesh: { anonymousRole: admin }\n');
  const no = await canopy('config', 'check', bad);
  assert.equal(no.code, 1);
  assert.match(no.stderr, /invalid configuration \(2 problems\)/);
  assert.match(no.stderr, /sysid: 300; allowed: a number at most 255/);
  assert.match(no.stderr, /mesh\.anonymousRole: "admin"; allowed: one of "viewer", "phone", "neighbour"/);

  const missing = await canopy('config', 'check', join(dir, 'nope.yaml'));
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /no such configuration file/);

  const printed = await canopy('config', 'print', good);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /password: \(secret, not shown\)/);
  assert.ok(!printed.stdout.includes('from-file'));
  assert.match(printed.stdout, /^version: 1$/m);
});

test('canopy start refuses an invalid file before anything starts; without --config it reads ./canopy.yaml', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'canopy.yaml'), 'dataDir: data\nmesh: { mqtt: { port: -1 } }\n');
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, [canopyBin, ...args], { cwd: dir, timeout: 60_000 }).then(
      () => assert.fail('canopy start succeeded on an invalid file'),
      (e: { code: number; stderr: string }) => e,
    );
  for (const args of [['start', '--run-for', '5'], ['start', '--config', join(dir, 'canopy.yaml'), '--run-for', '5']]) {
    const r = await run(args);
    assert.equal(r.code, 78, 'EX_CONFIG, which the systemd unit does not restart on');
    assert.match(r.stderr, /canopy\.yaml: invalid configuration \(1 problem\)\n\s+mesh\.mqtt\.port: -1; allowed: a number at least 1/);
  }
  assert.equal(existsSync(join(dir, 'data')), false, 'nothing was started or written');
});

