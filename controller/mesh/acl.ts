/**
 * Who may do what on the mesh: one table, role × topic class (topics.ts defines the classes and
 * their filters). Publishing needs write access to the topic's class; subscribing needs read
 * access to some class the filter can reach; every message delivered is checked again, so a
 * wildcard subscription (`canopy/#`) only ever carries what the role may read.
 */
import { filtersIntersect, topicMatches } from './filters.ts';
import { classFilters, TOPIC_CLASSES, type TopicClass } from '../../common/topics.ts';

export const ROLES = ['admin', 'viewer', 'phone', 'neighbour', 'drone-bridge', 'homeassistant'] as const;
export type Role = (typeof ROLES)[number];

/** r: subscribe, w: publish, rw: both, rw-own: both, on the user's own store topics only. */
export type Access = 'r' | 'w' | 'rw' | 'rw-own';

/** The access matrix. A class missing from a role's row is out of its reach. */
export const ACL_MATRIX: Readonly<Record<Role, Readonly<Partial<Record<TopicClass, Access>>>>> = {
  //              drone state  controller status  commands       responses       store           uplink items  forecasts in     HA discovery     anything else
  admin:          { drone: 'rw', status: 'rw', command: 'rw', response: 'rw', store: 'rw', relay: 'rw', weather: 'rw', discovery: 'rw', other: 'rw' },
  viewer:         { drone: 'r', status: 'r', weather: 'r' },
  phone:          { drone: 'r', status: 'r', store: 'rw', relay: 'w', weather: 'r' },
  neighbour:      { store: 'rw-own' },
  'drone-bridge': { drone: 'rw', status: 'r' },
  // Home Assistant reads the state its discovered sensors point at and publishes its birth/will;
  // it may pass on a weather forecast (an automation forwarding Open-Meteo's JSON).
  homeassistant:  { drone: 'r', status: 'r', weather: 'rw', discovery: 'rw' },
};

export interface Principal {
  username: string;
  role: Role;
}

interface Grants {
  publish: string[];
  subscribe: string[];
}

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export class Acl {
  private readonly cache = new Map<string, Grants>();

  constructor(
    readonly base: string,
    readonly discoveryPrefix?: string,
  ) {}

  canPublish(who: Principal, topic: string): boolean {
    // $SYS is the broker's own (aedes issue #597: clients publishing there can take it down).
    if (topic.startsWith('$')) return false;
    return this.grants(who).publish.some((f) => topicMatches(f, topic));
  }

  canSubscribe(who: Principal, filter: string): boolean {
    return this.grants(who).subscribe.some((f) => filtersIntersect(f, filter));
  }

  /** Checked on every delivery (aedes authorizeForward), retained messages included. */
  canReceive(who: Principal, topic: string): boolean {
    return this.grants(who).subscribe.some((f) => topicMatches(f, topic));
  }

  private grants(who: Principal): Grants {
    const key = `${who.role}\u0000${who.username}`;
    let g = this.cache.get(key);
    if (!g) {
      g = buildGrants(this.base, who, this.discoveryPrefix);
      this.cache.set(key, g);
    }
    return g;
  }
}

function buildGrants(base: string, who: Principal, discoveryPrefix?: string): Grants {
  const all = classFilters(base, '+', discoveryPrefix);
  const own = classFilters(base, who.username, discoveryPrefix);
  const g: Grants = { publish: [], subscribe: [] };
  const row = ACL_MATRIX[who.role];
  for (const cls of TOPIC_CLASSES) {
    const access = row[cls];
    // Anonymous principals have no name, hence no own store topics.
    if (!access || (access === 'rw-own' && !who.username)) continue;
    const filters = access === 'rw-own' ? own[cls] : all[cls];
    if (access.startsWith('r')) g.subscribe.push(...filters);
    if (access.includes('w')) g.publish.push(...filters);
  }
  return g;
}
