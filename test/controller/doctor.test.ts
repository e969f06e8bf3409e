/**
 * `canopy doctor` against a fake machine: a /sys tree in a temporary directory laid out as the
 * kernel does (class/tty/<name> links into devices/, `device` links to the port, the USB device
 * with idVendor/idProduct/manufacturer/serial a few levels up), a /dev and /etc of its own, and
 * injected answers for the clock, the disk and the ports.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { clockFinding, formatFindings, listeningProcess, listSerialDevices, nodeFinding, runDoctor, type DoctorSystem, type Finding } from '../../controller/commands/doctor.ts';
import { canopy } from '../helpers/cli.ts';
import { freePort } from '../../harness/rigs/ports.ts';

interface UsbFixture {
  tty: string;
  /** USB device directory under devices/ (e.g. usb1/1-1/1-1.2). */
  usb?: string;
  vendor?: string;
  product?: string;
  manufacturer?: string;
  serial?: string;
  /** cdc_acm (tty/ttyACM0 under the interface) rather than a usb-serial port (ttyUSB0/tty/ttyUSB0). */
  acm?: boolean;
}

/** Builds <root>/sys with the ttys as sysfs shows them. */
function fakeSys(root: string, ttys: UsbFixture[]): string {
  const sys = join(root, 'sys');
  mkdirSync(join(sys, 'class', 'tty'), { recursive: true });
  for (const f of ttys) {
    let classTarget: string;
    let deviceTarget: string;
    if (f.usb) {
      const usb = join(sys, 'devices', f.usb);
      mkdirSync(usb, { recursive: true });
      for (const [k, v] of Object.entries({ idVendor: f.vendor, idProduct: f.product, manufacturer: f.manufacturer, serial: f.serial })) if (v !== undefined) writeFileSync(join(usb, k), `${v}\n`);
      const iface = join(usb, `${f.usb.split('/').at(-1)}:1.0`);
      if (f.acm) {
        classTarget = join(iface, 'tty', f.tty);
        deviceTarget = iface;
      } else {
        deviceTarget = join(iface, f.tty);
        classTarget = join(deviceTarget, 'tty', f.tty);
      }
    } else {
      deviceTarget = join(sys, 'devices', 'platform', `serial-${f.tty}`);
      classTarget = join(deviceTarget, 'tty', f.tty);
    }
    mkdirSync(classTarget, { recursive: true });
    mkdirSync(deviceTarget, { recursive: true });
    symlinkSync(relative(classTarget, deviceTarget), join(classTarget, 'device'));
    symlinkSync(relative(join(sys, 'class', 'tty'), classTarget), join(sys, 'class', 'tty', f.tty));
  }
  // A virtual terminal: no device link.
  mkdirSync(join(sys, 'devices', 'virtual', 'tty', 'tty1'), { recursive: true });
  symlinkSync(relative(join(sys, 'class', 'tty'), join(sys, 'devices', 'virtual', 'tty', 'tty1')), join(sys, 'class', 'tty', 'tty1'));
  return sys;
}

const RADIO: UsbFixture = { tty: 'ttyUSB0', usb: 'usb1/1-1/1-1.2', vendor: '0403', product: '6015', manufacturer: 'FTDI', serial: 'D30F2C1A' };
const VICTRON: UsbFixture = { tty: 'ttyUSB1', usb: 'usb1/1-1/1-1.3', vendor: '0403', product: '6015', manufacturer: 'VictronEnergy BV', serial: 'VE6GBH44' };
const CP210X: UsbFixture = { tty: 'ttyUSB2', usb: 'usb1/1-1/1-1.4', vendor: '10c4', product: 'ea60', manufacturer: 'Silicon Labs', serial: '0001' };
const PIXHAWK: UsbFixture = { tty: 'ttyACM0', usb: 'usb1/1-1/1-1.5', vendor: '26ac', product: '0011', manufacturer: '3D Robotics', serial: '0', acm: true };
const CH340: UsbFixture = { tty: 'ttyUSB3', usb: 'usb2/2-1', vendor: '1a86', product: '7523' };

interface Machine {
  root: string;
  sys: DoctorSystem;
}

function machine(t: TestContext, ttys: UsbFixture[], over: Partial<DoctorSystem> & { group?: string; passwd?: string; config?: string } = {}): Machine {
  const root = mkdtempSync(join(tmpdir(), 'canopy-doctor-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const sysRoot = fakeSys(root, ttys);
  const devRoot = join(root, 'dev');
  const etcRoot = join(root, 'etc');
  const runRoot = join(root, 'run');
  mkdirSync(devRoot);
  mkdirSync(etcRoot);
  mkdirSync(runRoot);
  for (const f of ttys) writeFileSync(join(devRoot, f.tty), '');
  writeFileSync(join(etcRoot, 'group'), over.group ?? 'root:x:0:\ndialout:x:20:pi,canopy\ncanopy:x:998:\n');
  writeFileSync(join(etcRoot, 'passwd'), over.passwd ?? 'root:x:0:0::/root:/bin/bash\ncanopy:x:998:998::/var/lib/canopy:/usr/sbin/nologin\npi:x:1000:1000::/home/pi:/bin/bash\n');
  let configFile: string | undefined;
  if (over.config !== undefined) {
    configFile = join(etcRoot, 'canopy.yaml');
    writeFileSync(configFile, over.config.replaceAll('$DATA', join(root, 'data')));
  }
  const sys: DoctorSystem = {
    sysRoot,
    devRoot,
    etcRoot,
    runRoot,
    nodeVersion: '20.11.1',
    user: 'pi',
    groups: [1000, 20],
    canOpen: () => true,
    run: (cmd) => (cmd === 'timedatectl' ? { status: 0, stdout: 'yes\n' } : undefined),
    diskFree: () => ({ free: 20 * 1024 ** 3, total: 30 * 1024 ** 3 }),
    portFree: async () => true,
    portHolder: () => undefined,
    configFile,
    ...over,
  };
  return { root, sys };
}

const problems = (fs: Finding[]) => fs.filter((f) => f.status === 'problem');
const messages = (fs: Finding[], status?: Finding['status']) => fs.filter((f) => !status || f.status === status).map((f) => f.message);

test('serial devices are read from sysfs with their USB ids and named for what they probably are', (t) => {
  const { sys } = machine(t, [RADIO, VICTRON, CP210X, PIXHAWK, CH340, { tty: 'ttyAMA0' }, { tty: 'ttyS0' }]);
  const devices = listSerialDevices(sys.sysRoot);
  assert.deepEqual(
    devices.map((d) => [d.name, d.vendor, d.product, d.manufacturer, d.serial]),
    [
      ['ttyACM0', '26ac', '0011', '3D Robotics', '0'],
      ['ttyAMA0', undefined, undefined, undefined, undefined],
      ['ttyUSB0', '0403', '6015', 'FTDI', 'D30F2C1A'],
      ['ttyUSB1', '0403', '6015', 'VictronEnergy BV', 'VE6GBH44'],
      ['ttyUSB2', '10c4', 'ea60', 'Silicon Labs', '0001'],
      ['ttyUSB3', '1a86', '7523', undefined, undefined],
    ],
    'tty1 (virtual) and ttyS0 (legacy 8250 port) are not listed',
  );
});

test('a healthy station: every device identified, stable names present, no problems', async (t) => {
  const { sys } = machine(t, [RADIO, VICTRON, PIXHAWK], { config: 'version: 1\ndataDir: $DATA\nlinks: { drones: ["serial:/dev/canopy-radio-D30F2C1A"] }\n' });
  for (const name of ['canopy-radio-D30F2C1A', 'canopy-vedirect-VE6GBH44', 'canopy-autopilot-0']) writeFileSync(join(sys.devRoot, name), '');
  const findings = await runDoctor(sys);
  assert.deepEqual(problems(findings), []);
  assert.deepEqual(messages(findings, 'warn'), []);
  const text = messages(findings).join('\n');
  assert.match(text, /\/dev\/ttyUSB0 {2}0403:6015 FTDI serial D30F2C1A: SiK telemetry radio .*; stable name \/dev\/canopy-radio-D30F2C1A/);
  assert.match(text, /\/dev\/ttyUSB1 {2}0403:6015 VictronEnergy BV serial VE6GBH44: Victron VE\.Direct to USB cable/);
  assert.match(text, /\/dev\/ttyACM0 {2}26ac:0011 3D Robotics serial 0: a Pixhawk autopilot on USB/);
  assert.match(text, /canopy\.yaml is valid \(version 1\)/);
  assert.match(text, /MQTT port 1883 is free/);
  assert.match(text, /dashboard port 8080 is free/);
  assert.match(text, /the clock is synchronised \(timedatectl\)/);
  assert.match(text, /Node\.js 20\.11\.1/);
  assert.match(formatFindings(findings), /\nno problems$/);
});

test('each problem comes with its fix', async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => busy.close(() => r())));
  const taken = (busy.address() as AddressInfo).port;
  const { sys } = machine(t, [RADIO, CH340], {
    group: 'root:x:0:\ndialout:x:20:\ncanopy:x:998:\n',
    groups: [1000],
    canOpen: (p) => !p.endsWith('ttyUSB0'),
    run: (cmd) => (cmd === 'timedatectl' ? { status: 0, stdout: 'no\n' } : undefined),
    diskFree: () => ({ free: 300 * 1024 ** 2, total: 8 * 1024 ** 3 }),
    portFree: async (port) => port !== taken,
    nodeVersion: '18.19.0',
    config: `dataDir: $DATA\nlinks: { drones: ["serial:/dev/canopy-radio-GONE"] }\nmesh: { mqtt: { port: ${taken}, host: 127.0.0.1 }, websocket: false }\nchargeController: { url: "serial:///nonexistent/canopy-vedirect-GONE", panelWp: 400 }\n`,
  });
  const findings = await runDoctor(sys);
  const byText = (re: RegExp) => {
    const f = findings.find((x) => re.test(x.message));
    assert.ok(f, `a finding matching ${re}:\n${formatFindings(findings)}`);
    return f;
  };
  const expect: [RegExp, Finding['status'], RegExp][] = [
    [/pi cannot open \/dev\/ttyUSB0/, 'problem', /usermod -aG dialout pi/],
    [/canopy user is not in the dialout group/, 'problem', /usermod -aG dialout canopy/],
    [/pi is not in the dialout group/, 'warn', /usermod -aG dialout pi/],
    [/\/dev\/canopy-radio-D30F2C1A does not exist: the udev rules are not installed/, 'warn', /99-canopy-radios\.rules/],
    [/configured radio \/dev\/canopy-radio-GONE is not attached/, 'problem', /links\.drones/],
    [/configured charge controller cable \/nonexistent\/canopy-vedirect-GONE is not attached/, 'problem', /chargeController\.url/],
    [new RegExp(`MQTT port ${taken} is in use`), 'problem', new RegExp(`ss -ltnp 'sport = :${taken}'`)],
    [/0\.3 GiB free of 8\.0 GiB/, 'problem', /journalctl --vacuum-size/],
    [/clock is not synchronised \(timedatectl\)/, 'problem', /timedatectl set-ntp true/],
    [/Node\.js 18\.19\.0 is too old/, 'problem', /NodeSource/],
  ];
  for (const [re, status, fix] of expect) {
    const f = byText(re);
    assert.equal(f.status, status, f.message);
    assert.match(f.fix ?? '', fix, f.message);
  }
  assert.match(messages(findings).join('\n'), /\/dev\/ttyUSB3 {2}1a86:7523: not a device Canopy knows/);
  assert.ok(!findings.some((f) => /cannot open \/dev\/ttyUSB3/.test(f.message)), 'unknown devices are not a problem');
  // The same port held while the canopy service runs is the service's own.
  const running = await runDoctor({ ...sys, run: (cmd, args) => (cmd === 'systemctl' && args.join(' ') === 'is-active canopy' ? { status: 0, stdout: 'active\n' } : sys.run(cmd, args)) });
  assert.equal(running.find((f) => f.check === 'ports')?.message, `MQTT port ${taken} is in use: the canopy service is running`);
  assert.equal(running.find((f) => f.check === 'ports')?.status, 'info');
  assert.equal(problems(findings).length, 8);
  const text = formatFindings(findings);
  assert.match(text, /PROBLEM pi cannot open \/dev\/ttyUSB0\n {10}fix: sudo usermod/);
  assert.match(text, /\n8 problems, 2 warnings$/);
});

test('a port in use: Canopy itself is said so, mosquitto gets its hint only where it is the holder, each fix names the field and the flag', async (t) => {
  const config = 'links: { drones: [] }\nmesh: { mqtt: { port: 1883 }, websocket: { port: 9001 } }\ndashboard: { port: 8080 }\n';
  const holders: Record<number, { pid: number; command: string }> = {
    1883: { pid: 412, command: '/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf' },
    9001: { pid: 977, command: '/usr/bin/node /opt/canopy/bin/canopy.js start' },
    8080: { pid: 1204, command: 'python3 -m http.server 8080' },
  };
  const { sys } = machine(t, [], { config, portFree: async () => false, portHolder: (port) => holders[port] });
  const ports = (await runDoctor(sys)).filter((f) => f.check === 'ports');
  const of = (re: RegExp) => ports.find((f) => re.test(f.message))!;
  assert.equal(of(/^MQTT port 1883/).message, 'MQTT port 1883 is in use by mosquitto (pid 412)');
  assert.equal(of(/^MQTT port 1883/).status, 'problem');
  assert.match(of(/^MQTT port 1883/).fix!, /systemctl disable --now mosquitto, or choose another with mesh\.mqtt\.port \(canopy start --mqtt-port\)/);
  assert.equal(of(/WebSocket port 9001/).status, 'info');
  assert.match(of(/WebSocket port 9001/).message, /in use by Canopy itself \(pid 977: /);
  assert.match(of(/WebSocket port 9001/).fix!, /mesh\.websocket\.port \(canopy start --ws-port\)/);
  const dashboard = of(/^dashboard port 8080/);
  assert.equal(dashboard.message, 'dashboard port 8080 is in use by pid 1204 (python3 -m http.server 8080)');
  assert.doesNotMatch(dashboard.fix!, /mosquitto/, 'no mosquitto hint for the dashboard port');
  assert.match(dashboard.fix!, /dashboard\.port \(canopy start --dashboard-port\)/);
});

test('the holder of a listening port is found in procfs: this test\'s own child process', async (t) => {
  const child = spawn(process.execPath, ['-e', 'require("node:net").createServer().listen(0, "127.0.0.1", function () { console.log(this.address().port) })'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void child.kill());
  const port = Number(await new Promise<string>((r) => child.stdout!.once('data', (d: Buffer) => r(d.toString()))));
  const holder = listeningProcess(port);
  assert.equal(holder?.pid, child.pid);
  assert.match(holder!.command, /createServer\(\)\.listen/);
  assert.equal(listeningProcess(await freePort()), undefined, 'a free port has no holder');
});

test('an invalid configuration is a problem with every field named', async (t) => {
  const { sys } = machine(t, [], { config: 'sysid: 0\nmesh: { anonymousRole: admin }\n' });
  const findings = await runDoctor(sys);
  const f = findings.find((x) => x.check === 'config')!;
  assert.equal(f.status, 'problem');
  assert.match(f.message, /sysid: 0; allowed: a number at least 1/);
  assert.match(f.message, /mesh\.anonymousRole: "admin"/);
  assert.match(f.fix!, /canopy config check/);
  assert.match(formatFindings(findings), /no serial devices attached/);
});

test('clock: chronyc and systemd-timesyncd are asked when timedatectl cannot answer; none: unknown', (t) => {
  const { sys } = machine(t, []);
  const noSystemd = { status: 1, stdout: '' };
  assert.equal(clockFinding({ ...sys, run: (cmd) => (cmd === 'timedatectl' ? noSystemd : cmd === 'chronyc' ? { status: 0, stdout: 'Reference ID    : C0A80001\nLeap status     : Normal\n' } : undefined) }).status, 'ok');
  const unsynced = clockFinding({ ...sys, run: (cmd) => (cmd === 'chronyc' ? { status: 0, stdout: 'Leap status     : Not synchronised\n' } : undefined) });
  assert.equal(unsynced.status, 'problem');
  assert.match(unsynced.message, /\(chronyc\): MAVLink signing/);
  const none = clockFinding({ ...sys, run: () => undefined });
  assert.equal(none.status, 'warn');
  assert.match(none.message, /unknown/);
  mkdirSync(join(sys.runRoot, 'systemd', 'timesync'), { recursive: true });
  writeFileSync(join(sys.runRoot, 'systemd', 'timesync', 'synchronized'), '');
  assert.equal(clockFinding({ ...sys, run: () => undefined }).message, 'the clock is synchronised (systemd-timesyncd)');
  assert.equal(nodeFinding('22.3.0').status, 'ok');
});

test('canopy doctor on a fixture tree: lists the devices, exits 1 on a problem', async (t) => {
  const { sys } = machine(t, [RADIO], { config: 'sysid: 0\n' });
  const r = await canopy('doctor', '--sys-root', sys.sysRoot, '--dev-root', sys.devRoot, '--etc-root', sys.etcRoot, '--config', sys.configFile!);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^serial:\n {9} \/dev\/ttyUSB0 {2}0403:6015 FTDI serial D30F2C1A: SiK telemetry radio/m);
  assert.match(r.stdout, /PROBLEM .*sysid: 0; allowed/s);
  const json = await canopy('doctor', '--json', '--sys-root', sys.sysRoot, '--dev-root', sys.devRoot, '--etc-root', sys.etcRoot, '--config', sys.configFile!);
  const findings = JSON.parse(json.stdout) as Finding[];
  assert.ok(findings.some((f) => f.check === 'node' && f.status === 'ok'));
});
