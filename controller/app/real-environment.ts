/**
 * A real site's environment: the system clock, the drone radios and GCS endpoints named in the
 * configuration (signed as it says), the site's power profile, the relay to the configured
 * upstream, and the VE.Direct charge controller and battery monitor on their serial ports.
 */
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { isCanopyError } from '../../common/errors.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import { parseLinkUrl } from '../../firmware-bridge/links/url.ts';
import type { Logger } from '../../firmware-bridge/log.ts';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { downlinkOptions, forecastOptions, relayOptions, siteOptions, type CanopyConfig } from '../config.ts';
import type { MeshUser } from '../mesh/users.ts';
import { linkSigning, type LinkSigning } from '../signing.ts';
import type { Environment } from './application.ts';

export function realEnvironment(c: CanopyConfig, o: { log: Logger; users: MeshUser[]; usersFile?: string; tlog?: string; clock?: Clock }): Environment {
  const clock = o.clock ?? new SystemClock();
  const signing = linkSigning(c, clock);
  return {
    clock,
    log: o.log,
    users: o.users,
    mesh: o.usersFile === undefined ? undefined : { usersFile: o.usersFile },
    droneLinks: c.links.drones.map((url) => ({ link: droneLink(url, clock, o.log), name: url, baud: radioBaud(url), signing: signing?.drones })),
    gcsLinks: gcsLinks(c, clock, signing),
    tlog: o.tlog,
    site: siteOptions(c),
    forecast: forecastOptions(c),
    relay: relayOptions(c),
    downlink: downlinkOptions(c),
    chargeController: c.chargeController && { ...c.chargeController },
    batteryMonitor: c.batteryMonitor && { ...c.batteryMonitor },
  };
}

/** The pilots' tools from `links.gcs`, each signed or trusted as `signing:` says (the simulated site's too). */
export function gcsLinks(c: CanopyConfig, clock: Clock, signing?: LinkSigning): Environment['gcsLinks'] {
  return c.links.gcs.map((url) => ({ link: createLink(url, { clock }), name: url, readOnly: c.links.readOnlyGcs, signing: signing?.gcs(url) }));
}

/**
 * A drone radio's link. A radio absent at start is waited for (plugged in later, or a USB hub slow
 * to enumerate at boot) instead of ending Canopy; each outage is said once, with the fix.
 */
function droneLink(url: string, clock: Clock, log: Logger) {
  const link = createLink(url, { clock, waitForDevice: true });
  link.on('error', (e: Error) => log.error(`${url}: ${e.message}${isCanopyError(e, 'CANOPY_ERR_SERIAL_NOT_FOUND') ? ' (waiting for it; `canopy doctor` lists the serial devices present)' : ''}`));
  return link;
}

/** A drone link's air rate: a serial radio's baud, else the radios the product ships (57,600). */
function radioBaud(url: string): number | undefined {
  const spec = parseLinkUrl(url);
  return spec.kind === 'serial' ? spec.baud : undefined;
}
