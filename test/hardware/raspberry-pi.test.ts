/**
 * hardware/raspberry-pi/: the systemd unit starts Canopy with flags that exist (its ExecStart,
 * pointed at a config in a temporary directory, brings the ground station up and stops on the
 * signal) and passes systemd-analyze verify; the udev rules are the known-device table rendered
 * and parse; install.sh installs into a throwaway root without touching the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES } from '../../common/errors.ts';
import { identifyUsbSerial, KNOWN_USB_SERIAL, renderUdevRules } from '../../hardware/usb-serial.ts';
import { canopy } from '../helpers/cli.ts';
import { hasCommand, needCommand, repoRoot } from '../helpers/tools.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { serviceNodeFlags } from '../../harness/rigs/processes.ts';

test('the systemd unit\'s canopy command line is valid', async (t) => {
  const unit = readFileSync(join(repoRoot, 'hardware', 'raspberry-pi', 'canopy.service'), 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/node ((?:--\S+ )*)\/opt\/canopy\/bin\/canopy\.js (.+)$/m.exec(unit);
  assert.ok(exec, 'ExecStart runs bin/canopy.js with node');
  const nodeFlags = exec[1]!.trim().split(/\s+/).filter(Boolean);
  assert.deepEqual(nodeFlags, serviceNodeFlags(), 'the benches measure with the unit\'s node flags');
  const flagsCheck = spawnSync(process.execPath, [...nodeFlags, '-e', '0'], { encoding: 'utf8' });
  assert.equal(flagsCheck.status, 0, `node takes the unit's flags: ${flagsCheck.stderr}`);
  assert.match(unit, /^SupplementaryGroups=dialout$/m, 'the service may open the serial radios');
  assert.match(unit, /^User=canopy$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, new RegExp(`^RestartPreventExitStatus=${EXIT_CODES.CANOPY_ERR_CONFIG}$`, 'm'), 'no restart loop on an invalid canopy.yaml');
  assert.match(unit, /^StandardOutput=journal$/m);
  assert.match(unit, /^EnvironmentFile=-\/etc\/canopy\/canopy\.env$/m, 'secrets from the root-only file, optional');
  const dir = mkdtempSync(join(tmpdir(), 'canopy-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'canopy.yaml');
  writeFileSync(config, `dataDir: data\nlinks: { gcs: ["udpout://127.0.0.1:9"] }\nmesh: { mqtt: { port: ${await freePort()}, host: 127.0.0.1 }, websocket: false }\nsimulation: { speed: 5 }\n`);
  const args = exec![2]!.split(/\s+/).map((a) => (a === '/etc/canopy/canopy.yaml' ? config : a));
  const r = await canopy(...args, '--run-for', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /simulated site "clear-summer-day"/);
  assert.match(r.stdout, /password "/);
});

// ---- udev rules -------------------------------------------------------------------------------

const RULES = join(repoRoot, 'hardware', 'raspberry-pi', '99-canopy-radios.rules');

test('the udev rules are the known-device table rendered (one source for doctor and udev)', () => {
  assert.equal(readFileSync(RULES, 'utf8'), renderUdevRules(), 'regenerate with: node --import tsx -e "import(\'./hardware/usb-serial.ts\').then((m) => process.stdout.write(m.renderUdevRules()))" > hardware/raspberry-pi/99-canopy-radios.rules');
  for (const [v, p] of [['0403', '6001'], ['0403', '6015'], ['10c4', 'ea60'], ['26ac', '0011']]) assert.ok(KNOWN_USB_SERIAL.some((k) => k.vendor === v && k.product === p), `${v}:${p} is known`);
  assert.equal(identifyUsbSerial('0403', '6015', 'VictronEnergy BV')?.role, 'charge-controller');
  assert.equal(identifyUsbSerial('0403', '6015', 'FTDI')?.role, 'radio');
  assert.equal(identifyUsbSerial('0403', '6015')?.role, 'radio');
  assert.equal(identifyUsbSerial('10C4', 'EA60')?.symlink, 'canopy-radio');
  assert.equal(identifyUsbSerial('1d6b', '0002'), undefined);
});

/**
 * udev(7)'s rule syntax, for systems whose udevadm has no `verify` (it came in systemd 254;
 * Debian 12 ships 252): comma-separated KEY[{attr}]OP"value", match keys with == or !=,
 * assignment keys with = += -= :=, known keys only, quotes closed.
 */
function udevSyntaxProblems(text: string): string[] {
  const MATCH = new Set(['ACTION', 'DEVPATH', 'KERNEL', 'KERNELS', 'NAME', 'SYMLINK', 'SUBSYSTEM', 'SUBSYSTEMS', 'DRIVER', 'DRIVERS', 'ATTR', 'ATTRS', 'SYSCTL', 'TAG', 'TAGS', 'ENV', 'CONST', 'TEST', 'PROGRAM', 'RESULT']);
  const ASSIGN = new Set(['NAME', 'SYMLINK', 'OWNER', 'GROUP', 'MODE', 'SECLABEL', 'ATTR', 'SYSCTL', 'ENV', 'TAG', 'RUN', 'LABEL', 'GOTO', 'IMPORT', 'OPTIONS']);
  const WITH_ATTR = new Set(['ATTR', 'ATTRS', 'SYSCTL', 'ENV', 'CONST', 'TEST', 'RUN', 'IMPORT', 'SECLABEL']);
  const problems: string[] = [];
  text.split('\n').forEach((line, n) => {
    if (/^\s*(#|$)/.test(line)) return;
    const tokens = line.trim().match(/\s*([A-Z]+)(\{[^}]*\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/gy);
    if (!tokens || tokens.join('').length !== line.trim().length) return problems.push(`line ${n + 1}: not a list of KEY OP "value": ${line}`);
    let assigns = 0;
    for (const tok of tokens) {
      const [, key, attr, op] = /([A-Z]+)(\{[^}]*\})?\s*(==|!=|\+=|-=|:=|=)/.exec(tok)!;
      const isMatch = op === '==' || op === '!=';
      if (isMatch ? !MATCH.has(key!) : !ASSIGN.has(key!)) problems.push(`line ${n + 1}: ${key} cannot be used with ${op}`);
      if (WITH_ATTR.has(key!) !== Boolean(attr) && !(key === 'RUN' || key === 'IMPORT')) problems.push(`line ${n + 1}: ${key} ${attr ? 'takes no {attribute}' : 'needs an {attribute}'}`);
      if (!isMatch) assigns++;
      if (key === 'MODE' && !isMatch && !/^"0?[0-7]{3}"/.test(tok.slice(tok.indexOf('"')))) problems.push(`line ${n + 1}: MODE must be octal`);
    }
    if (assigns === 0) problems.push(`line ${n + 1}: a rule without an assignment does nothing`);
  });
  return problems;
}

test('the udev rules parse (udevadm verify where this systemd has it, udev(7) syntax always)', async (t) => {
  assert.deepEqual(udevSyntaxProblems(readFileSync(RULES, 'utf8')), []);
  // The checker itself catches what a typo does.
  assert.equal(udevSyntaxProblems('SUBSYSTEM=="tty", ATTRS{idVendor}="0403", SYMLINK+="x"').length, 1, 'ATTRS assigned');
  assert.equal(udevSyntaxProblems('SUBSYSTEM=="tty", SYMLINK+="x').length, 1, 'unclosed quote');
  assert.equal(udevSyntaxProblems('SUBSYSTEMS=="usb", ATTRS{idVendor}=="0403"').length, 1, 'nothing assigned');
  assert.equal(udevSyntaxProblems('SUBSYSTEM=="tty", MODE="rw"').length, 1, 'MODE not octal');
  if (!hasCommand('udevadm')) return t.diagnostic('udevadm not installed: syntax checked here only');
  const verify = spawnSync('udevadm', ['verify', '--help'], { encoding: 'utf8' });
  if (verify.status !== 0) return t.diagnostic(`udevadm ${spawnSync('udevadm', ['--version'], { encoding: 'utf8' }).stdout.trim()} has no "verify" (systemd 254+): syntax checked here only`);
  const r = spawnSync('udevadm', ['verify', '--resolve-names=never', RULES], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
});

// ---- install script ---------------------------------------------------------------------------

const INSTALL = join(repoRoot, 'hardware', 'raspberry-pi', 'install.sh');
const HOST_PATHS = ['/etc/passwd', '/etc/group', '/etc/canopy', '/opt/canopy', '/var/lib/canopy', '/etc/systemd/system/canopy.service', '/etc/udev/rules.d/99-canopy-radios.rules', '/usr/local/bin/canopy'];

/** What the host has at the paths an install to / would write: content hash, or absent. */
function hostState(): Record<string, string> {
  const state: Record<string, string> = {};
  for (const p of HOST_PATHS) {
    if (!existsSync(p)) state[p] = 'absent';
    else if (statSync(p).isDirectory()) state[p] = `dir ${readdirSync(p).sort().join(',')}`;
    else state[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return state;
}

function install(root: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', [INSTALL, '--root', root, '--skip-npm', ...args], { encoding: 'utf8', env: { ...process.env, CANOPY_NODE: process.execPath } });
  return { status: r.status, out: r.stdout + r.stderr };
}

function tempRoot(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'canopy-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('install.sh into a throwaway root: user in dialout, directories, a config that checks, unit and rules; the host untouched', async (t) => {
  const root = tempRoot(t);
  // A root that already has users: the new system uid is the highest free one under 1000.
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:999:999::/:/usr/sbin/nologin\npi:x:1000:1000::/home/pi:/bin/bash\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\ndialout:x:20:pi\nsystemd-network:x:999:\npi:x:1000:\n');
  writeFileSync(join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
  const before = hostState();

  const r = install(root);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, new RegExp(`Node\\.js ${process.versions.node.replace(/\./g, '\\.')}`));
  assert.match(r.out, /skipping npm ci/);
  const passwd = readFileSync(join(root, 'etc', 'passwd'), 'utf8');
  assert.match(passwd, /^canopy:x:998:998:Canopy ground station:\/var\/lib\/canopy:\/usr\/sbin\/nologin$/m);
  const group = readFileSync(join(root, 'etc', 'group'), 'utf8');
  assert.match(group, /^dialout:x:20:pi,canopy$/m);
  assert.match(group, /^canopy:x:998:$/m);
  assert.match(readFileSync(join(root, 'etc', 'shadow'), 'utf8'), /^canopy:!:/m);
  assert.ok(statSync(join(root, 'var', 'lib', 'canopy')).isDirectory());
  assert.equal(statSync(join(root, 'etc', 'canopy', 'canopy.env')).mode & 0o777, 0o600, 'the secrets file is root-only');
  assert.ok(existsSync(join(root, 'opt', 'canopy', 'bin', 'canopy.js')));
  assert.ok(existsSync(join(root, 'opt', 'canopy', 'controller', 'cli.ts')));
  assert.ok(!existsSync(join(root, 'opt', 'canopy', 'test')), 'the tests stay behind');
  assert.ok(!existsSync(join(root, 'opt', 'canopy', 'node_modules')), '--skip-npm');
  assert.equal(readlinkSync(join(root, 'usr', 'local', 'bin', 'canopy')), '/opt/canopy/bin/canopy.js');
  assert.equal(readFileSync(join(root, 'etc', 'udev', 'rules.d', '99-canopy-radios.rules'), 'utf8'), readFileSync(RULES, 'utf8'));
  const unit = readFileSync(join(root, 'etc', 'systemd', 'system', 'canopy.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} --max-semi-space-size=4 /opt/canopy/bin/canopy\\.js start --config /etc/canopy/canopy\\.yaml`, 'm'), 'the unit runs the node that was checked');

  const check = await canopy('config', 'check', join(root, 'etc', 'canopy', 'canopy.yaml'));
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /data directory: \/var\/lib\/canopy/);

  // Again, after the owner edited the config: nothing duplicated, the config kept.
  writeFileSync(join(root, 'etc', 'canopy', 'canopy.yaml'), 'version: 1\nsysid: 42\n');
  const again = install(root);
  assert.equal(again.status, 0, again.out);
  assert.match(again.out, /keeping the existing/);
  assert.equal(readFileSync(join(root, 'etc', 'canopy', 'canopy.yaml'), 'utf8'), 'version: 1\nsysid: 42\n');
  assert.equal(readFileSync(join(root, 'etc', 'passwd'), 'utf8'), passwd);
  assert.equal(readFileSync(join(root, 'etc', 'group'), 'utf8'), group);

  assert.deepEqual(hostState(), before, 'nothing outside the throwaway root changed');
});

test('install.sh into an empty root creates the user files with Debian\'s dialout group', (t) => {
  const root = tempRoot(t);
  const r = install(root);
  assert.equal(r.status, 0, r.out);
  assert.equal(readFileSync(join(root, 'etc', 'group'), 'utf8'), 'dialout:x:20:canopy\ncanopy:x:999:\n');
  assert.equal(readFileSync(join(root, 'etc', 'passwd'), 'utf8'), 'canopy:x:999:999:Canopy ground station:/var/lib/canopy:/usr/sbin/nologin\n');
});

test('install.sh refuses a Node.js older than 20 with a clear message and installs nothing', (t) => {
  const root = tempRoot(t);
  const bin = join(root, 'fake-node');
  writeFileSync(bin, '#!/bin/sh\necho 18.19.0\n', { mode: 0o755 });
  const r = spawnSync('bash', [INSTALL, '--root', join(root, 'target'), '--skip-npm'], { encoding: 'utf8', env: { ...process.env, CANOPY_NODE: bin } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Node\.js 18\.19\.0 .* is too old: Canopy needs 20 or newer/);
  assert.ok(!existsSync(join(root, 'target')), 'nothing installed');
  const none = spawnSync('bash', [INSTALL, '--root', join(root, 'target')], { encoding: 'utf8', env: { ...process.env, CANOPY_NODE: 'no-such-node-binary' } });
  assert.notEqual(none.status, 0);
  assert.match(none.stderr, /Node\.js not found/);
});

test('the installed unit passes systemd-analyze verify', (t) => {
  if (!needCommand(t, 'systemd-analyze', 'systemd')) return;
  const root = tempRoot(t);
  const r = install(root);
  assert.equal(r.status, 0, r.out);
  const unit = join(root, 'etc', 'systemd', 'system', 'canopy.service');
  const v = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stderr.trim(), '', 'no warnings (unknown keys, bad values)');
  // The check can fail: a typo in a directive is reported.
  const bad = join(root, 'bad.service');
  writeFileSync(bad, readFileSync(unit, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'));
  assert.match(spawnSync('systemd-analyze', ['verify', '--man=no', bad], { encoding: 'utf8' }).stderr, /restart specifier/);
});
