/**
 * Admin actions as bridge requests (zigbee2mqtt's `bridge/request/<verb>` → `bridge/response/<verb>`):
 * the dashboard's buttons publish them, and so can any admin client; they are part of the mesh's
 * public API, registered by `canopy start` whether or not the dashboard runs. The ACL lets only admins
 * publish on `<base>/bridge/request/#`, so a viewer's attempt never reaches these handlers. Every
 * action is also announced on `<base>/bridge/event` for the event log.
 *
 *   fleet/launch    the net follows the power plan again (it goes up when the sun pays for hover)
 *   fleet/recall    the net shrinks to nothing: every drone comes home through the transit token
 *   drone/land      { id }: one drone lands where it is (MAV_CMD_NAV_LAND); an operator's action, not a failsafe
 *   drone/carried-back { id }: a drone that landed away from its pad stands on it again: it charges there
 *   drone/clear-fault { id }: a faulted drone is back in the plan (on its pad; off it, it waits to be carried back)
 *   uplink/pause    the dish goes off and stays off; items keep queueing
 *   uplink/resume   the uplink follows the contact plan and the power grant again
 *   cache/prefetch  { item, url, class?, title?, mime?, now?, size? }: fetch an item into the phone's hot
 *                   cache through the downlink (relay/downlink.ts, docs/prefetch.md)
 *   cache/cancel    { item, deletePartial? }: take it off the downlink queue (and its parts out of the cache)
 */
import type { Clock } from '../firmware-bridge/clock.ts';
import { CanopyError } from '../common/errors.ts';
import { sysidOfDroneId, type DroneBridge } from './drone-bridge.ts';
import type { Mesh } from './mesh/mesh.ts';
import type { BridgeEvent } from '../common/topics.ts';
import type { Relay } from './relay/relay.ts';
import type { Downlink } from './relay/downlink.ts';
import type { PriorityClass } from '../common/topics.ts';
import type { SiteController } from './site.ts';

export interface ActionTargets {
  mesh: Mesh;
  clock: Clock;
  /** The site controller (fleet + power); absent on a site whose fleet Canopy does not fly. */
  site?: SiteController;
  relay?: Relay;
  drones?: DroneBridge;
  downlink?: Downlink;
}

export const ACTION_VERBS = ['fleet/launch', 'fleet/recall', 'drone/land', 'drone/carried-back', 'drone/clear-fault', 'uplink/pause', 'uplink/resume', 'cache/prefetch', 'cache/cancel'] as const;

/** A string field of a request, or undefined when absent; anything else is refused. */
function optionalString(verb: string, data: Record<string, unknown>, field: string): string | undefined {
  const v = data[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb}: "${field}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function requiredString(verb: string, data: Record<string, unknown>, field: string, example: string): string {
  const v = optionalString(verb, data, field);
  if (v === undefined || v === '') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb} needs ${example}`);
  return v;
}

function unavailable(what: string): never {
  throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `${what}: not available on this site`);
}

/** The `id` a drone verb needs. */
function droneIdOf(verb: string, data: Record<string, unknown>): string {
  const id = data.id;
  if (typeof id !== 'string' || id === '') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb} needs { "id": "<drone id>" } (d1, d2 …)`);
  return id;
}

/** The system id of a drone the fleet flies, named by its mesh id. */
function fleetSysid(site: SiteController, verb: string, data: Record<string, unknown>): number {
  const id = droneIdOf(verb, data);
  const sysid = sysidOfDroneId(id);
  if (sysid === undefined || site.fleet.role(sysid) === undefined) throw new CanopyError('CANOPY_ERR_UNKNOWN_VEHICLE', `no drone "${id}"`);
  return sysid;
}

/** Registers the handlers; the result removes them. */
export function registerActions(t: ActionTargets): () => void {
  const announce = (verb: string, ok: boolean, message: string) => {
    const event: BridgeEvent = { type: 'action', data: { verb, ok, message, atMs: t.clock.now() } };
    void t.mesh.publish(t.mesh.topics.event, JSON.stringify(event)).catch(() => {});
  };
  const handlers: Record<(typeof ACTION_VERBS)[number], (data: Record<string, unknown>) => Promise<string | { message: string }> | string> = {
    'fleet/launch': () => {
      const site = t.site ?? unavailable('launch');
      site.launch();
      const want = site.budget?.decisions.stations ?? 0;
      return want > 0 ? `launching: the net follows the power plan (${want} stations now)` : `the net follows the power plan; it goes up when the sun pays for hover (${site.budget?.decisions.reason ?? 'no budget yet'})`;
    },
    'fleet/recall': () => {
      const site = t.site ?? unavailable('recall');
      site.recall();
      const manned = site.fleet.status().manned;
      return `recalling all: ${manned === 1 ? '1 station comes' : `${manned} stations come`} down one drone at a time; the net stays down until launched`;
    },
    'drone/land': async (data) => {
      const id = droneIdOf('drone/land', data);
      const sysid = sysidOfDroneId(id);
      // A drone the fleet flies is landed by the fleet (an operator's action, not its failsafe);
      // any other straight by its autopilot.
      const flown = t.site && sysid !== undefined && t.site.fleet.role(sysid) !== undefined;
      const result = flown ? await t.site!.fleet.land(sysid!) : await (t.drones ?? unavailable('land')).command(id, { command: 'land' });
      if (!result) throw new CanopyError('CANOPY_ERR_UNKNOWN_VEHICLE', `no drone "${id}"`);
      if (!result.ok) throw new CanopyError('CANOPY_ERR_DENIED', `${id} refused to land (${result.reason}${result.detail ? `: ${result.detail}` : ''})`);
      return `${id} is landing where it is`;
    },
    'drone/carried-back': (data) => {
      const site = t.site ?? unavailable('carried back');
      return site.fleet.carriedBack(fleetSysid(site, 'drone/carried-back', data));
    },
    'drone/clear-fault': (data) => {
      const site = t.site ?? unavailable('clear fault');
      return site.fleet.clearFault(fleetSysid(site, 'drone/clear-fault', data));
    },
    'uplink/pause': () => {
      const relay = t.relay ?? unavailable('uplink pause');
      relay.setPaused(true);
      return 'uplink paused: the dish goes off, items keep queueing';
    },
    'uplink/resume': () => {
      const relay = t.relay ?? unavailable('uplink resume');
      relay.setPaused(false);
      return 'uplink resumed: it follows the contact plan and the power grant';
    },
    'cache/prefetch': async (data) => {
      const downlink = t.downlink ?? unavailable('prefetch (no relay, or relay.downlink: false)');
      const verb = 'cache/prefetch';
      const item = requiredString(verb, data, 'item', '{ "item": "<id>", "url": "https://…" }');
      const url = requiredString(verb, data, 'url', '{ "item": "<id>", "url": "https://…" }');
      const size = data.size;
      if (size !== undefined && typeof size !== 'number') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb}: "size" must be a number of bytes`);
      if (data.now !== undefined && typeof data.now !== 'boolean') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb}: "now" must be true or false`);
      const view = await downlink.prefetch({
        item,
        url,
        cls: optionalString(verb, data, 'class') as PriorityClass | undefined,
        title: optionalString(verb, data, 'title'),
        mime: optionalString(verb, data, 'mime'),
        now: data.now === true,
        size,
        requestedBy: 'an admin (bridge request)',
      });
      const message = view.state === 'done' ? `${item} is in the hot cache already` : `${item} queued (${view.cls}${view.now ? ', now' : ''}): ${view.state}${view.reason ? ` — ${view.reason}` : ''}`;
      return { message, item: view };
    },
    'cache/cancel': async (data) => {
      const downlink = t.downlink ?? unavailable('prefetch cancel');
      const verb = 'cache/cancel';
      const item = requiredString(verb, data, 'item', '{ "item": "<id>" }');
      if (data.deletePartial !== undefined && typeof data.deletePartial !== 'boolean') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb}: "deletePartial" must be true or false`);
      const r = await downlink.cancel(item, data.deletePartial === true);
      if (!r.removed && !r.deleted) throw new CanopyError('CANOPY_ERR_NOT_FOUND', `${item} is not on the downlink queue${data.deletePartial ? ' nor in the hot cache' : ''}`);
      return `${item} ${r.removed ? 'taken off the downlink queue' : 'was not queued'}${data.deletePartial ? (r.deleted ? '; its parts left the hot cache' : '; nothing of it was cached') : ''}`;
    },
  };
  const offs = Object.entries(handlers).map(([verb, fn]) =>
    t.mesh.onRequest(verb, async (data) => {
      try {
        const result = await fn(data);
        const answer = typeof result === 'string' ? { message: result } : result;
        announce(verb, true, answer.message);
        return answer;
      } catch (e) {
        announce(verb, false, (e as Error).message);
        throw e;
      }
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}
