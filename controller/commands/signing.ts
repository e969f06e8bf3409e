/**
 * `canopy signing setup --link URL --sysid N [--config FILE] [--key-file FILE]`: hands one drone
 * its signing key over SETUP_SIGNING (mavlink.io message_signing.html "Secret key management"),
 * then checks that what the drone sends next is signed with it. The key is the drone's own from
 * `signing.drones`, else the network key (`signing.key`), else `--key-file`. The key crosses the
 * link in the clear: do it over USB or a radio you trust, before the drone flies.
 */
import { parseArgs } from 'node:util';
import { minimal } from 'mavlink-mappings';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { readNamedFile } from '../named-files.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import { MavlinkSigning } from '../../firmware-bridge/microservices/signing/index.ts';
import { waitFor } from '../../firmware-bridge/microservices/waiter.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { defaultConfig, findConfig, loadConfig } from '../config.ts';
import { keyFromText, linkSigning, loadKey } from '../signing.ts';

const USAGE = 'canopy signing setup --link URL --sysid N [--config FILE] [--key-file FILE] [--timeout S]';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { link: { type: 'string' }, sysid: { type: 'string' }, config: { type: 'string' }, 'key-file': { type: 'string' }, timeout: { type: 'string', default: '30' } },
  });
  if (positionals[0] !== 'setup' || positionals.length > 1 || !values.link || !values.sysid) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `usage: ${USAGE}`);
  const sysid = Number(values.sysid);
  if (!Number.isInteger(sysid) || sysid < 1 || sysid > 255) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--sysid must be a system id from 1 to 255, got "${values.sysid}"`);
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--timeout must be a number of seconds, got "${values.timeout}"`);
  const file = values.config ?? findConfig();
  const c = file ? loadConfig(file) : defaultConfig();
  const clock = new SystemClock();
  let key: Buffer;
  if (values['key-file']) key = keyFromText(readNamedFile(values['key-file'], '--key-file').toString('utf8'), `--key-file ${values['key-file']}`);
  else {
    const source = c.signing?.drones[String(sysid)] ?? c.signing?.key;
    if (!source) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `no key for drone ${sysid}: give signing.drones."${sysid}" or signing.key in ${file ?? 'canopy.yaml'}, or --key-file`);
    key = loadKey(c, source, c.signing?.drones[String(sysid)] ? `signing.drones.${sysid}` : 'signing.key');
  }
  // Our signing state as the station keeps it (its timestamp file), but taking unsigned frames:
  // the drone has no key yet, or an old one.
  const signing = linkSigning(c, clock)?.signing ?? new MavlinkSigning({ clock });
  signing.requireSigned = false;
  const link = createLink(values.link, { clock });
  const node = new MavlinkNode({ clock, sysid: c.sysid, heartbeatHz: 1 });
  const channel = node.addLink(link, { signing });
  await link.start();
  node.start();
  try {
    process.stderr.write(`waiting for drone ${sysid} on ${values.link} …\n`);
    const port = node.portTo(channel, sysid, 1);
    const hb = await waitFor(port, minimal.Heartbeat, () => true, timeoutMs).result;
    if (!hb.ok) throw new CanopyError('CANOPY_ERR_TIMEOUT', `no HEARTBEAT from system ${sysid} on ${values.link} within ${values.timeout} s`);
    const before = signing.stats.verified;
    signing.handOverKey(port, key);
    process.stderr.write(`SETUP_SIGNING sent to drone ${sysid}; waiting for its signed HEARTBEAT …\n`);
    const signedHb = await waitFor(port, minimal.Heartbeat, () => signing.stats.verified > before, Math.min(timeoutMs, 10_000)).result;
    if (!signedHb.ok) {
      const refused = Object.entries(channel.stats.rejected).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`);
      throw new CanopyError('CANOPY_ERR_TIMEOUT', `drone ${sysid} did not sign with the new key${refused.length ? ` (frames refused: ${refused.join(', ')})` : ''}: its firmware may take SETUP_SIGNING only over a secure link (USB), or not at all`);
    }
    console.log(`drone ${sysid} signs with its key (${signing.stats.verified - before} signed frame(s) verified); Canopy signs what it sends to it`);
    return 0;
  } finally {
    node.stop();
    await link.stop();
  }
}
