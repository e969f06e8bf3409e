/**
 * `canopy doctor`: checks this machine for Canopy and says how to fix each problem — the serial
 * devices (USB ids, what they probably are, the stable udev name, whether this user can open
 * them), the canopy user's dialout membership, the configuration, the ports it listens on, free
 * disk under the data directory, clock synchronisation (MAVLink signing timestamps and the
 * contact plan need real time; a Pi has no RTC) and the Node.js version. Exit code 1 when a
 * problem was found (warnings do not count).
 *
 * Everything it reads from the system comes through `DoctorSystem`, so tests run it against a
 * fake /sys tree and injected answers.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isCanopyError } from '../../common/errors.ts';
import { parseLinkUrl } from '../../firmware-bridge/links/url.ts';
import { identifyUsbSerial } from '../../hardware/usb-serial.ts';
import { MESH_LISTENERS } from '../mesh/listeners.ts';
import { CONFIG_SEARCH, dataDir, defaultConfig, findConfig, loadConfig, type CanopyConfig } from '../config.ts';

export type Status = 'ok' | 'warn' | 'problem' | 'info';

export interface Finding {
  check: 'serial' | 'permissions' | 'config' | 'ports' | 'disk' | 'clock' | 'node';
  status: Status;
  message: string;
  fix?: string;
}

export interface SerialDevice {
  /** /dev/<name> */
  name: string;
  vendor?: string;
  product?: string;
  manufacturer?: string;
  productName?: string;
  serial?: string;
}

export interface DoctorSystem {
  sysRoot: string;
  devRoot: string;
  /** Where group is read from (the canopy user's dialout membership). */
  etcRoot: string;
  /** /run, where systemd-timesyncd flags a synchronised clock. */
  runRoot: string;
  nodeVersion: string;
  user: string;
  /** Group ids of this process. */
  groups: number[];
  /** Can this user open the device for reading and writing? */
  canOpen(path: string): boolean;
  /** Runs a command; undefined when it is not installed or cannot answer. */
  run(cmd: string, args: string[]): { status: number; stdout: string } | undefined;
  /** Free and total bytes of the filesystem holding `path`. */
  diskFree(path: string): { free: number; total: number };
  /** Can a TCP listener bind host:port right now? */
  portFree(port: number, host?: string): Promise<boolean>;
  /** The process listening on a TCP port, when this user may see it (its own, or all as root). */
  portHolder(port: number): { pid: number; command: string } | undefined;
  /** The configuration file to check (undefined: none found). */
  configFile: string | undefined;
}

const GiB = 1024 ** 3;
/** Below this much free space under the data directory the outbox and logs are at risk. */
export const MIN_FREE_BYTES = 1 * GiB;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Serial devices from sysfs: every /sys/class/tty/<name> with a `device` link (virtual terminals
 * have none), and for USB ones the ids of the USB device above it (the first parent directory
 * with idVendor, as udev's ATTRS walk finds it). Legacy 8250 ports without a USB parent (ttyS*)
 * are left out: every PC has 32 of them.
 */
export function listSerialDevices(sysRoot: string): SerialDevice[] {
  const classDir = join(sysRoot, 'class', 'tty');
  if (!existsSync(classDir)) return [];
  const devices: SerialDevice[] = [];
  const top = resolve(sysRoot);
  for (const name of readdirSync(classDir).sort()) {
    let dev: string;
    try {
      dev = realpathSync(join(classDir, name, 'device'));
    } catch {
      continue;
    }
    let usb: string | undefined;
    for (let d = dev; d.startsWith(top) && d !== top; d = dirname(d)) {
      if (existsSync(join(d, 'idVendor'))) {
        usb = d;
        break;
      }
    }
    if (!usb) {
      if (/^ttyS\d+$/.test(name)) continue;
      devices.push({ name });
      continue;
    }
    devices.push({ name, vendor: read(join(usb, 'idVendor')), product: read(join(usb, 'idProduct')), manufacturer: read(join(usb, 'manufacturer')), productName: read(join(usb, 'product')), serial: read(join(usb, 'serial')) });
  }
  return devices;
}

/** Members of `group` in an /etc/group file. */
function groupMembers(etcRoot: string, group: string): { gid: number; members: string[] } | undefined {
  const line = read(join(etcRoot, 'group'))?.split('\n').find((l) => l.startsWith(`${group}:`));
  if (!line) return undefined;
  const [, , gid, members = ''] = line.split(':');
  return { gid: Number(gid), members: members.split(',').filter(Boolean) };
}

function serialFindings(sys: DoctorSystem, c: CanopyConfig | undefined): Finding[] {
  const out: Finding[] = [];
  const devices = listSerialDevices(sys.sysRoot);
  if (devices.length === 0) out.push({ check: 'serial', status: 'info', message: 'no serial devices attached', fix: 'plug the telemetry radio into a USB port; "dmesg | tail" shows what the kernel saw' });
  for (const d of devices) {
    const path = join(sys.devRoot, d.name);
    const known = d.vendor && d.product ? identifyUsbSerial(d.vendor, d.product, d.manufacturer) : undefined;
    const ids = d.vendor ? `${d.vendor}:${d.product}` : 'not USB';
    const label = [d.manufacturer, d.productName].filter(Boolean).join(' ');
    const what = known ? known.probably : d.vendor ? 'not a device Canopy knows' : d.name.startsWith('ttyAMA') ? "the Pi's GPIO UART (a radio wired to pins 8 and 10)" : 'a serial port';
    const stable = known && d.serial ? `${known.symlink}-${d.serial}` : undefined;
    out.push({ check: 'serial', status: 'info', message: `/dev/${d.name}  ${ids}${label ? ` ${label}` : ''}${d.serial ? ` serial ${d.serial}` : ''}: ${what}${stable ? `; stable name /dev/${stable}` : ''}` });
    if (stable && !existsSync(join(sys.devRoot, stable))) {
      out.push({ check: 'serial', status: 'warn', message: `/dev/${stable} does not exist: the udev rules are not installed`, fix: 'sudo cp hardware/raspberry-pi/99-canopy-radios.rules /etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=tty' });
    }
    if (known && !sys.canOpen(path)) {
      out.push({ check: 'permissions', status: 'problem', message: `${sys.user} cannot open /dev/${d.name}`, fix: `sudo usermod -aG dialout ${sys.user}, then log in again (the canopy service has the dialout group already)` });
    }
  }
  const configured = [
    ...(c?.links.drones ?? []).map((url) => ({ url, what: 'radio', field: 'links.drones' })),
    ...(c?.chargeController ? [{ url: c.chargeController.url, what: 'charge controller cable', field: 'chargeController.url' }] : []),
    ...(c?.batteryMonitor ? [{ url: c.batteryMonitor.url, what: 'battery monitor cable', field: 'batteryMonitor.url' }] : []),
  ];
  for (const { url, what, field } of configured) {
    let spec;
    try {
      spec = parseLinkUrl(url);
    } catch {
      continue; // the config check reports it
    }
    if (spec.kind !== 'serial') continue;
    // A device under /dev is looked for in the (injectable) device tree, like the ones listed above.
    const path = spec.path.startsWith('/dev/') ? join(sys.devRoot, spec.path.slice('/dev/'.length)) : spec.path;
    if (!existsSync(path)) out.push({ check: 'serial', status: 'problem', message: `the configured ${what} ${spec.path} is not attached`, fix: `plug it in, or correct ${field} in the configuration (ls /dev/canopy-* lists the devices by their stable names)` });
  }
  const dialout = groupMembers(sys.etcRoot, 'dialout');
  if (!dialout) {
    out.push({ check: 'permissions', status: 'problem', message: `no dialout group in ${join(sys.etcRoot, 'group')}`, fix: 'sudo groupadd --system dialout (Debian and Raspberry Pi OS have it as gid 20)' });
  } else {
    const canopyUser = read(join(sys.etcRoot, 'passwd'))?.split('\n').some((l) => l.startsWith('canopy:'));
    if (canopyUser && !dialout.members.includes('canopy')) out.push({ check: 'permissions', status: 'problem', message: 'the canopy user is not in the dialout group: the service cannot open the radios', fix: 'sudo usermod -aG dialout canopy' });
    else if (canopyUser) out.push({ check: 'permissions', status: 'ok', message: 'the canopy user is in the dialout group' });
    if (sys.user !== 'canopy' && sys.user !== 'root' && !sys.groups.includes(dialout.gid) && !dialout.members.includes(sys.user)) {
      out.push({ check: 'permissions', status: 'warn', message: `${sys.user} is not in the dialout group: "canopy radio" and "canopy start" run by hand cannot open the radios`, fix: `sudo usermod -aG dialout ${sys.user}, then log in again` });
    }
  }
  return out;
}

function configFindings(sys: DoctorSystem): { findings: Finding[]; config?: CanopyConfig } {
  if (!sys.configFile) return { findings: [{ check: 'config', status: 'info', message: `no configuration file (looked for ${CONFIG_SEARCH.join(', ')}): canopy start flies the simulated site with the defaults` }], config: defaultConfig() };
  try {
    const config = loadConfig(sys.configFile);
    return { findings: [{ check: 'config', status: 'ok', message: `${sys.configFile} is valid (version ${config.version})` }], config };
  } catch (e) {
    if (!isCanopyError(e, 'CANOPY_ERR_CONFIG')) throw e;
    return { findings: [{ check: 'config', status: 'problem', message: e.message, fix: `correct the fields named above; "canopy config check ${sys.configFile}" checks again` }] };
  }
}

interface ListenPort {
  what: string;
  port: number;
  host?: string;
  /** The configuration field that sets it, and the flag of `canopy start` if there is one. */
  field: string;
  flag?: string;
}

/** The TCP ports Canopy will listen on, by what listens there. */
export function listenPorts(c: CanopyConfig): ListenPort[] {
  const ports: ListenPort[] = [];
  const m = c.mesh;
  if (m.mqtt !== false) ports.push({ ...MESH_LISTENERS.tcp, port: m.mqtt.port ?? 1883, host: m.mqtt.host });
  if (m.websocket !== false) ports.push({ ...MESH_LISTENERS.ws, port: m.websocket.port ?? 9001, host: m.websocket.host });
  if (m.tls) ports.push({ ...MESH_LISTENERS.tls, port: m.tls.port ?? 8883, host: m.tls.host });
  if (c.dashboard) ports.push({ what: 'dashboard', field: 'dashboard.port', flag: '--dashboard-port', port: c.dashboard.port, host: c.dashboard.host });
  for (const url of c.links.drones) {
    try {
      const s = parseLinkUrl(url);
      if (s.kind === 'tcpin') ports.push({ what: `drone link ${url}`, field: 'links.drones', flag: '--link', port: s.port, host: s.host });
    } catch {
      // the config check reports it
    }
  }
  return ports.filter((p) => p.port !== 0);
}

async function portFindings(sys: DoctorSystem, c: CanopyConfig): Promise<Finding[]> {
  const out: Finding[] = [];
  // On a running station the ports are Canopy's own.
  const serviceActive = sys.run('systemctl', ['is-active', 'canopy'])?.stdout.trim() === 'active';
  for (const p of listenPorts(c)) {
    if (await sys.portFree(p.port, p.host)) {
      out.push({ check: 'ports', status: 'ok', message: `${p.what} port ${p.port} is free` });
      continue;
    }
    const holder = sys.portHolder(p.port);
    const another = `or choose another with ${p.field}${p.flag ? ` (canopy start ${p.flag})` : ''}`;
    if (holder && /\bcanopy(\.js)?\b/.test(holder.command)) out.push({ check: 'ports', status: 'info', message: `${p.what} port ${p.port} is in use by Canopy itself (pid ${holder.pid}: ${holder.command})`, fix: `a second Canopy on this machine needs other ports: ${another.slice(3)}` });
    else if (!holder && serviceActive) out.push({ check: 'ports', status: 'info', message: `${p.what} port ${p.port} is in use: the canopy service is running` });
    else if (holder && /\bmosquitto\b/.test(holder.command)) out.push({ check: 'ports', status: 'problem', message: `${p.what} port ${p.port} is in use by mosquitto (pid ${holder.pid})`, fix: `Canopy is the broker here: sudo systemctl disable --now mosquitto, ${another}` });
    else if (holder) out.push({ check: 'ports', status: 'problem', message: `${p.what} port ${p.port} is in use by pid ${holder.pid} (${holder.command})`, fix: `stop that program, ${another}` });
    else out.push({ check: 'ports', status: 'problem', message: `${p.what} port ${p.port} is in use`, fix: `see who holds it: sudo ss -ltnp 'sport = :${p.port}'; stop that program, ${another}` });
  }
  return out;
}

/**
 * Who listens on a TCP port, from procfs (proc(5)): the LISTEN sockets (state 0A) of
 * /proc/net/tcp and tcp6 by local port give an inode, and the process whose /proc/PID/fd holds
 * `socket:[inode]` is the holder. Other users' fds are hidden unless run as root: then undefined.
 */
export function listeningProcess(port: number, procRoot = '/proc'): { pid: number; command: string } | undefined {
  const inodes = new Set<string>();
  for (const table of ['net/tcp', 'net/tcp6']) {
    for (const line of (read(join(procRoot, table)) ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1]?.split(':')[1];
      if (f[3] === '0A' && local && parseInt(local, 16) === port && f[9]) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(procRoot, pid, 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(join(procRoot, pid, 'fd', fd));
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        const command = (read(join(procRoot, pid, 'cmdline')) ?? '').split('\0').filter(Boolean).join(' ');
        return { pid: Number(pid), command: command || `pid ${pid}` };
      }
    }
  }
  return undefined;
}

function diskFindings(sys: DoctorSystem, c: CanopyConfig | undefined): Finding[] {
  let dir = resolve(c ? dataDir(c) : 'canopy-data');
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const { free, total } = sys.diskFree(dir);
  const text = `${(free / GiB).toFixed(1)} GiB free of ${(total / GiB).toFixed(1)} GiB under ${dir}`;
  if (free < MIN_FREE_BYTES) return [{ check: 'disk', status: 'problem', message: `${text}: the relay's outbox and the journal need room`, fix: 'free space (sudo journalctl --vacuum-size=200M; old .tlog files), or move dataDir to a larger disk' }];
  return [{ check: 'disk', status: 'ok', message: text }];
}

/** Clock synchronisation from timedatectl, chronyc or systemd-timesyncd's flag file; else unknown. */
export function clockFinding(sys: DoctorSystem): Finding {
  const why = 'MAVLink signing timestamps and the satellite contact plan need real time, and a Pi has no battery-backed clock';
  const fix = 'sudo timedatectl set-ntp true (needs network at boot); off-grid: an RTC module or GPS time (gpsd with chrony)';
  let synced: boolean | undefined;
  let source = '';
  const td = sys.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (td && td.status === 0 && /^(yes|no)$/.test(td.stdout.trim())) {
    synced = td.stdout.trim() === 'yes';
    source = 'timedatectl';
  } else {
    const chrony = sys.run('chronyc', ['tracking']);
    const leap = chrony?.status === 0 ? /^Leap status\s*:\s*(.+)$/m.exec(chrony.stdout)?.[1]?.trim() : undefined;
    if (leap) {
      synced = leap !== 'Not synchronised';
      source = 'chronyc';
    } else if (existsSync(join(sys.runRoot, 'systemd', 'timesync', 'synchronized'))) {
      synced = true;
      source = 'systemd-timesyncd';
    }
  }
  if (synced === true) return { check: 'clock', status: 'ok', message: `the clock is synchronised (${source})` };
  if (synced === false) return { check: 'clock', status: 'problem', message: `the clock is not synchronised (${source}): ${why}`, fix };
  return { check: 'clock', status: 'warn', message: `clock synchronisation unknown (no timedatectl, chronyc or systemd-timesyncd answered): ${why}`, fix };
}

export function nodeFinding(version: string): Finding {
  const major = Number(version.split('.')[0]);
  if (major >= 20) return { check: 'node', status: 'ok', message: `Node.js ${version}` };
  return { check: 'node', status: 'problem', message: `Node.js ${version} is too old: Canopy needs 20 or newer`, fix: "install Node 20 or 22 from NodeSource (Raspberry Pi OS bookworm's nodejs package is 18); see docs/raspberry-pi.md" };
}

export async function runDoctor(sys: DoctorSystem): Promise<Finding[]> {
  const { findings: config, config: c } = configFindings(sys);
  return [...serialFindings(sys, c), ...config, ...(c ? await portFindings(sys, c) : []), ...diskFindings(sys, c), clockFinding(sys), nodeFinding(sys.nodeVersion)];
}

/** This machine. */
export function realSystem(configFile: string | undefined, roots: { sys?: string; dev?: string; etc?: string } = {}): DoctorSystem {
  return {
    sysRoot: roots.sys ?? '/sys',
    devRoot: roots.dev ?? '/dev',
    etcRoot: roots.etc ?? '/etc',
    runRoot: '/run',
    nodeVersion: process.versions.node,
    user: userInfo().username,
    groups: process.getgroups?.() ?? [],
    canOpen(path) {
      try {
        accessSync(path, constants.R_OK | constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    run(cmd, args) {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
      if (r.error || r.status === null) return undefined;
      return { status: r.status, stdout: r.stdout };
    },
    diskFree(path) {
      const s = statfsSync(path);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    },
    portHolder: (port) => listeningProcess(port),
    portFree(port, host) {
      return new Promise((resolve) => {
        const srv = createServer();
        srv.once('error', () => resolve(false));
        srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
      });
    },
    configFile,
  };
}

const MARK: Record<Status, string> = { ok: 'ok     ', warn: 'warn   ', problem: 'PROBLEM', info: '       ' };

export function formatFindings(findings: Finding[]): string {
  const lines: string[] = [];
  let last = '';
  for (const f of findings) {
    if (f.check !== last) lines.push(`${f.check}:`);
    last = f.check;
    const [first, ...rest] = f.message.split('\n');
    lines.push(`  ${MARK[f.status]} ${first}`, ...rest.map((r) => `          ${r.trim()}`));
    if (f.fix && f.status !== 'ok' && f.status !== 'info') lines.push(`          fix: ${f.fix}`);
  }
  const problems = findings.filter((f) => f.status === 'problem').length;
  const warnings = findings.filter((f) => f.status === 'warn').length;
  lines.push('', problems ? `${problems} problem${problems === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}` : `no problems${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`);
  return lines.join('\n');
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      // For a staged image or a test fixture:
      'sys-root': { type: 'string' },
      'dev-root': { type: 'string' },
      'etc-root': { type: 'string' },
    },
  });
  const sys = realSystem(values.config ?? findConfig(), { sys: values['sys-root'], dev: values['dev-root'], etc: values['etc-root'] });
  const findings = await runDoctor(sys);
  console.log(values.json ? JSON.stringify(findings, null, 2) : formatFindings(findings));
  return findings.some((f) => f.status === 'problem') ? 1 : 0;
}
