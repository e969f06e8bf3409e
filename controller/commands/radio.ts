/**
 * `canopy radio setup DEVICE [--netid N] [--air-speed K] [--ecc|--no-ecc] [--mavlink|--no-mavlink]
 * [--tx-power DBM] [--remote] [--baud B]` and `canopy radio show DEVICE`: a SiK radio's settings
 * through its AT command set (hardware/sik-at.ts). DEVICE is a path (/dev/ttyUSB0,
 * /dev/serial/by-id/…) or a serial link URL.
 */
import { parseArgs } from 'node:util';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { createLink, parseLinkUrl } from '../../firmware-bridge/links/index.ts';
import { SikAtSession, parseSikParameters, setupSikRadio, type SikSetupRequest } from '../../hardware/sik-at.ts';

const USAGE = 'canopy radio setup DEVICE [--netid N] [--air-speed K] [--ecc|--no-ecc] [--mavlink|--no-mavlink] [--tx-power DBM] [--remote] [--baud B]\n       canopy radio show DEVICE [--baud B]';

function integer(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} must be a whole number, got "${v}"`);
  return Number(v);
}

function flag(on: boolean | undefined, off: boolean | undefined, name: string): boolean | undefined {
  if (on && off) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} and --no-${name} contradict each other`);
  return on ? true : off ? false : undefined;
}

/** A device path or serial URL → a serial URL (the radio's serial speed, 57600 unless told). */
function serialUrl(device: string, baud: string | undefined): string {
  const url = device.startsWith('serial:') ? device : `serial:${device}?baud=${baud ?? '57600'}`;
  const spec = parseLinkUrl(url);
  if (spec.kind !== 'serial') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${device} is not a serial device`);
  if (device.startsWith('serial:') && baud !== undefined) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'give the baud rate in the URL (?baud=…) or with --baud, not both');
  return url;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      netid: { type: 'string' },
      'air-speed': { type: 'string' },
      'tx-power': { type: 'string' },
      ecc: { type: 'boolean' },
      'no-ecc': { type: 'boolean' },
      mavlink: { type: 'boolean' },
      'no-mavlink': { type: 'boolean' },
      remote: { type: 'boolean' },
      baud: { type: 'string' },
      /** The silence around +++, ms (SiK needs 1000; the simulator in tests takes less). */
      'guard-ms': { type: 'string' },
    },
  });
  const [verb, device, ...extra] = positionals;
  if ((verb !== 'setup' && verb !== 'show') || !device || extra.length > 0) {
    throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `usage: ${USAGE}`);
  }
  const url = serialUrl(device, values.baud);
  const guardMs = integer('guard-ms', values['guard-ms']);
  const clock = new SystemClock();
  const link = createLink(url, { clock });
  await link.start();
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  try {
    if (verb === 'show') {
      const s = new SikAtSession(link, { clock, guardMs });
      try {
        progress(`${url}: entering command mode`);
        if (!(await s.enterCommandMode())) throw new CanopyError('CANOPY_ERR_RADIO_NO_ANSWER', `${url}: no "OK" after "+++": check the device, the baud rate (SiK ships at 57600) and that nothing else has the port open`);
        const banner = (await s.command('ATI', 'line'))?.[0] ?? '?';
        const params = parseSikParameters((await s.command('ATI5', 'lines')) ?? []);
        console.log(banner);
        for (const [name, p] of params) console.log(`S${p.register}\t${name}\t${p.value}`);
        await s.leave();
      } finally {
        s.close();
      }
      return 0;
    }
    const req: SikSetupRequest = {
      netid: integer('netid', values.netid),
      airSpeed: integer('air-speed', values['air-speed']),
      txPower: integer('tx-power', values['tx-power']),
      ecc: flag(values.ecc, values['no-ecc'], 'ecc'),
      mavlink: flag(values.mavlink, values['no-mavlink'], 'mavlink'),
    };
    if (Object.values(req).every((v) => v === undefined)) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `nothing to set: give at least one of --netid, --air-speed, --ecc/--no-ecc, --mavlink/--no-mavlink, --tx-power (or "canopy radio show ${device}" to read the settings)`);
    }
    const result = await setupSikRadio(link, req, { clock, guardMs, device: url, remote: values.remote, progress });
    for (const r of [result.remote && { ...result.remote, where: 'remote' }, { ...result, where: 'local' }]) {
      if (!r) continue;
      console.log(`${r.where}: ${r.changes.map((c) => (c.before === c.after ? `${c.name}=${c.after}` : `${c.name}=${c.after} (was ${c.before})`)).join(', ')}${r.rebooted ? '; rebooted' : '; unchanged'}`);
    }
    if (!values.remote && result.rebooted) {
      console.log('Set the same NETID, AIR_SPEED, ECC and MAVLINK on the radio at the other end (or run again with --remote while the pair is linked).');
    }
    return 0;
  } finally {
    await link.stop();
  }
}
