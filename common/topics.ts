/**
 * The mesh's public API: every topic under the base topic and every payload on it, typed in one
 * place (zigbee2mqtt's topic tree: retained `<base>/<device>` state, `/availability`, `/set`,
 * `bridge/request/<verb>` → `bridge/response/<verb>`). The dashboard imports this file, so it uses
 * no Node APIs: payloads are JSON text or Uint8Array.
 *
 *   <base>/drones/<id>                 DroneState, retained, published throttled
 *   <base>/drones/<id>/availability    "online" | "offline", retained
 *   <base>/drones/<id>/set             DroneCommand (admin only)
 *   <base>/power                       PowerState, retained
 *   <base>/power/history               PowerHistory, retained (the last 24 h in 5-minute steps)
 *   <base>/uplink                      UplinkStatus, retained
 *   <base>/relay/downlink              DownlinkStatus, retained (the prefetch queue: docs/prefetch.md)
 *   <base>/fleet                       FleetState, retained (the net's outline, roles, hold)
 *   <base>/bridge/state                "online" | "offline", retained (the controller's availability)
 *   <base>/bridge/event                BridgeEvent (fleet transitions), not retained
 *   <base>/bridge/event/history        EventHistory, retained (the bridge events since the site's local midnight)
 *   <base>/bridge/request/<verb>       BridgeRequest (admin only)
 *   <base>/bridge/response/<verb>      BridgeResponse (admin only)
 *   <base>/store/<owner>/...           the store protocol's traffic for one owner (phone, neighbours)
 *   <base>/store/<owner>/ledger        LedgerState, retained (the owner's reciprocity ledger; store readers only)
 *   <base>/weather/forecast            an hourly weather forecast from upstream (Open-Meteo's JSON), for the power budget
 *   <base>/relay/<class>/<dest...>     items for the uplink; leave upstream on <upstream prefix>/<dest...>
 */

export const DEFAULT_BASE_TOPIC = 'canopy';

/** Availability payloads, plain strings as Home Assistant's MQTT availability expects. */
export type Availability = 'online' | 'offline';

/** Retained `<base>/drones/<id>`: the fleet's latest view of one drone. */
export interface DroneState {
  id: string;
  sysid: number;
  /** Flight mode as the autopilot names it (ArduCopter: GUIDED, RTL, LAND …). */
  mode?: string;
  armed?: boolean;
  position?: { lat: number; lon: number; altM: number };
  battery?: { voltageV: number; currentA?: number; remainingPct?: number };
  /**
   * The radio link: signal, loss, and what the drone sends as measured (frames/s, bytes/s) against
   * its share of its radio; `overShare` names a drone sending more than its share.
   */
  link?: { rssi?: number; lossPct?: number; framesPerS?: number; bytesPerS?: number; shareBytesPerS?: number; overShare?: boolean };
  /** The firmware family (ardupilot, px4), from its HEARTBEAT. */
  autopilot?: string;
  /** "waiting for telemetry" until its position arrives (stock firmware streams nothing until asked); then "ok". */
  telemetry?: 'waiting for telemetry' | 'ok';
  /** Whether its autopilot says it can arm, and if not, why (the autopilot's own latest text). */
  readiness?: { ready: boolean; reason?: string };
  /** The fleet's role for this drone (charging, ready, launching, on-station …), when a fleet flies it. */
  role?: string;
  /** Why the fleet holds it on the ground (its autopilot's reason, a refusal being waited out, charging…), when it does. */
  waiting?: string;
  /** Epoch milliseconds of the drone's last HEARTBEAT. */
  heartbeatAt?: number;
  /** Epoch milliseconds of the newest data in this state. */
  updatedAt: number;
}

/** `<base>/drones/<id>/set`: what an admin may ask of one drone. */
export type DroneCommand =
  | { command: 'arm' }
  | { command: 'disarm' }
  | { command: 'takeoff'; altM: number }
  | { command: 'goto'; lat: number; lon: number; altM: number }
  | { command: 'land' }
  | { command: 'rtl' };

/**
 * A measured figure as it goes on the wire: to a tenth (watts, percent, Wh), so a payload reads
 * `79.9`, not the float arithmetic's `79.98299999999962`.
 */
export function tenths(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Retained `<base>/power`: the power budget's current figures (watts, percent and Wh to a tenth). */
export interface PowerState {
  solarW: number;
  loadW: number;
  batteryPct?: number;
  /** Whether batteryPct is the station battery monitor's measurement (else the budget's integration of the bus). */
  batteryMeasured?: boolean;
  /** Watts the dish draws while powered (0 when off). */
  dishW: number;
  /** Whether the budget currently grants the uplink its power. */
  uplinkGranted: boolean;
  /** Stations the net should have now, and why. */
  stations?: number;
  reason?: string;
  /** When the evening landing starts (epoch ms), null when the net is not up on the sun. */
  landByMs?: number | null;
  /** A fleet-sizing warning, null when the fleet can sustain the net. */
  warning?: string | null;
  /** The next 24 h: expected irradiance and stations, 15-minute steps. */
  forecast?: { atMs: number; ghiWm2: number; stations: number }[];
  /** Irradiance measured now (the station's reference cell), W/m², to set against the forecast. */
  ghiWm2?: number;
  /** Energy since the site's local midnight (mean solar time), Wh. */
  energyToday?: { generatedWh: number; consumedWh: number; dayStartMs: number };
  /** What the forecast rests on: an outside weather forecast, or the budget's own model of the measured sky. */
  forecastSource?: ForecastSource;
  updatedAt: number;
}

/** How an outside forecast reached the site: fetched over the uplink, or published on `<base>/weather/forecast`. */
export type ForecastRoute = 'uplink' | 'mesh';

/**
 * The forecast's source (docs/forecast.md): `outside` while an hourly weather forecast that passed
 * the checks shapes the day ahead, `measured` while the budget forecasts from its own model of the
 * measured sky (persistence, then the site's climate).
 */
export interface ForecastSource {
  kind: 'outside' | 'measured';
  /** The outside forecast in use: how it came, when it was issued, for where (its own coordinates), the end of its last hour. */
  outside: { route: ForecastRoute; issuedAtMs: number; latDeg: number; lonDeg: number; untilMs: number } | null;
  /** The latest forecast refused or dropped since one was last taken, and why. */
  refused: { route: ForecastRoute; reason: string; atMs: number } | null;
}

/** Retained `<base>/power/history`: what a dashboard opened now plots for the last day. */
export interface PowerHistory {
  stepMs: number;
  /** Oldest first; each step averages the power states published in it. */
  points: {
    atMs: number;
    solarW: number;
    loadW: number;
    batteryPct?: number;
    /** Measured irradiance, and what the first forecast that covered this step expected, W/m². */
    ghiWm2?: number;
    forecastGhiWm2?: number;
  }[];
  updatedAt: number;
}

/** Retained `<base>/fleet`: what the map and the fleet summary need, published with the power state. */
export interface FleetState {
  /** The station's position: the map's origin (local east/north metres around it). */
  origin: { lat: number; lon: number };
  /** The net's altitude now (lowered in a strong wind). */
  altitudeM: number;
  /** The sustained wind the fleet acts on, m/s (null: not measured lately), and its stage: calm, lower (lowered, at most half the net) or land. */
  windMs?: number | null;
  windStage?: 'calm' | 'lower' | 'land';
  /** The net's stations, metres north and east of the origin. */
  stations: { n: number; e: number }[];
  manned: number;
  roles: Record<string, number>;
  /** An admin recalled the net: it stays down until launched again. */
  hold: boolean;
  updatedAt: number;
}

/** `<base>/bridge/event` (not retained): something happened, zigbee2mqtt's bridge/event habit. */
export type BridgeEvent =
  /** `cause`: a failsafe (shown as an alert) or an operator's action; absent, the fleet's plan. */
  | { type: 'fleet-transition'; data: { sysid: number; from: string; to: string; reason: string; cause?: 'failsafe' | 'operator'; atMs: number } }
  /** Something an operator should see: a drone its autopilot keeps unready, a drone over its radio share. */
  | { type: 'alert'; data: { sysid?: number; message: string; atMs: number } }
  /** An admin's action (dashboard or any admin client) and what came of it. */
  | { type: 'action'; data: { verb: string; ok: boolean; message: string; atMs: number } };

/** Retained `<base>/bridge/event/history`: what a dashboard opened now lists for the day so far. */
export interface EventHistory {
  /** The site's local midnight the day starts at (the power state's energyToday), null before one is known. */
  dayStartMs: number | null;
  /** Oldest first, as published on `<base>/bridge/event`; the newest few hundred at most. */
  events: BridgeEvent[];
  updatedAt: number;
}

/** Priority classes of relayed items, highest first; the array index is the class's ordinal. */
export const PRIORITY_CLASSES = ['control', 'hot', 'bulk'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export type PerClass<T> = Record<PriorityClass, T>;

export interface ContactWindowView {
  start: number;
  end: number;
  /** Bytes the window may carry; absent: unlimited. */
  budgetBytes?: number;
}

/** Retained `<base>/uplink`: the relay's outbox and dish. */
export interface UplinkStatus {
  /** off: dish unpowered; booting: dish powered, not yet usable; connecting / up: upstream MQTT. */
  state: 'off' | 'booting' | 'connecting' | 'up';
  window: ContactWindowView | null;
  nextWindow: ContactWindowView | null;
  /** The contact plan's windows over the next 24 hours. */
  upcoming?: ContactWindowView[];
  /** The current window's byte budget (null: unlimited) against what it has carried. */
  windowBytes?: { budget: number | null; used: number } | null;
  queued: PerClass<{ items: number; bytes: number }>;
  delivered: PerClass<{ items: number; bytes: number }>;
  /** Items dropped because their TTL ran out before an uplink window carried them. */
  expired: PerClass<number>;
  dish: { on: boolean; energyWh: number; whPerGb: number | null };
  /** An admin paused the uplink: the dish stays off whatever the grant. */
  paused?: boolean;
  /** Payload bytes delivered upstream since UTC midnight. */
  sentToday?: { bytes: number; dayStartMs: number };
  updatedAt: number;
}

/** Where a prefetch stands (docs/prefetch.md). */
export type DownlinkState = 'waiting-window' | 'waiting-energy' | 'waiting-phone' | 'waiting-upstream' | 'fetching' | 'done' | 'refused';

/** One item of the downlink queue. */
export interface DownlinkItemView {
  item: string;
  url: string;
  cls: PriorityClass;
  /** Asked to go now: a bulk item then does not wait for the midday surplus. */
  now: boolean;
  requestedBy: string;
  title?: string;
  state: DownlinkState;
  /** Why it waits, or why it was refused, in words. */
  reason: string | null;
  /** Bytes in the phone's hot cache at the last look, and the item's size (null: not known yet). */
  have: number;
  total: number | null;
  /** Bytes this item brought down the link (equal to its size when nothing was fetched twice). */
  fetchedBytes: number;
  createdAt: number;
  updatedAt: number;
}

/** Retained `<base>/relay/downlink`: the prefetch queue and what its traffic cost. */
export interface DownlinkStatus {
  /** The phone agent whose hot cache is filled. */
  agent: string;
  items: DownlinkItemView[];
  /** Bytes fetched since the queue was created, and the dish's energy spent fetching them (Wh: its watts × the time the downlink held the link). */
  fetchedBytes: number;
  energyWh: number;
  /** Of energyWh, what the station battery paid: the part charged while the sun's surplus did not cover the dish. */
  batteryWh: number;
  whPerGb: number | null;
  /** The current window's downlink byte budget against what it carried (null: no window open). */
  windowBytes: { budget: number | null; used: number } | null;
  updatedAt: number;
}

/** Request and response payloads per bridge verb. */
export interface BridgeVerbs {
  health_check: { request: Record<string, never>; response: { healthy: boolean } };
  /** Admin actions (the dashboard's buttons); the answer says what happens now. */
  'fleet/launch': { request: Record<string, never>; response: { message: string } };
  'fleet/recall': { request: Record<string, never>; response: { message: string } };
  'drone/land': { request: { id: string }; response: { message: string } };
  'drone/carried-back': { request: { id: string }; response: { message: string } };
  'drone/clear-fault': { request: { id: string }; response: { message: string } };
  'uplink/pause': { request: Record<string, never>; response: { message: string } };
  'uplink/resume': { request: Record<string, never>; response: { message: string } };
  /** Fetch an item into the phone's hot cache (docs/prefetch.md). */
  'cache/prefetch': { request: { item: string; url: string; class?: PriorityClass; title?: string; mime?: string; now?: boolean }; response: { message: string; item: DownlinkItemView } };
  'cache/cancel': { request: { item: string; deletePartial?: boolean }; response: { message: string } };
}
export type BridgeVerb = keyof BridgeVerbs;

/** A request payload; `transaction` is echoed in the response so a caller can match them. */
export type BridgeRequest<T = unknown> = T & { transaction?: string };

/** `<base>/bridge/response/<verb>`, zigbee2mqtt's envelope. */
export type BridgeResponse<T = unknown> =
  | { status: 'ok'; data: T; transaction?: string }
  | { status: 'error'; data: Record<string, never>; error: string; transaction?: string };

/** One neighbour's row in the reciprocity ledger (docs/audits.md). */
export interface LedgerRow {
  neighbour: string;
  /** Bytes of the owner's shares the neighbour held at its latest audit, and the byte-days held so far (audited). */
  heldForUsBytes: number;
  heldForUsByteDays: number;
  /** Bytes of the neighbour's entries the owner's phone holds (cold class), and the byte-days so far. */
  heldByUsBytes: number;
  heldByUsByteDays: number;
  auditsPassed: number;
  auditsFailed: number;
  /** Hot-cache bytes the owner's phone served to the neighbour. */
  hotServedBytes: number;
  /** Receipts the owner keeps from this neighbour. */
  receipts: number;
  lastAuditAt?: number;
  /** The room the quota rule gives the neighbour in the phone's cold class (bytes). */
  roomBytes: number;
}

/** Retained `<base>/store/<owner>/ledger`: the owner's reciprocity ledger. */
export interface LedgerState {
  owner: string;
  neighbours: LedgerRow[];
  updatedAt: number;
}

/** Topic builders for one base topic. */
export function topicTree(base = DEFAULT_BASE_TOPIC) {
  return {
    base,
    drone: (id: string) => `${base}/drones/${id}`,
    availability: (id: string) => `${base}/drones/${id}/availability`,
    droneSet: (id: string) => `${base}/drones/${id}/set`,
    power: `${base}/power`,
    powerHistory: `${base}/power/history`,
    uplink: `${base}/uplink`,
    downlink: `${base}/relay/downlink`,
    fleet: `${base}/fleet`,
    bridgeState: `${base}/bridge/state`,
    event: `${base}/bridge/event`,
    eventHistory: `${base}/bridge/event/history`,
    request: (verb: string) => `${base}/bridge/request/${verb}`,
    response: (verb: string) => `${base}/bridge/response/${verb}`,
    store: (owner: string, ...rest: string[]) => [`${base}/store/${owner}`, ...rest].join('/'),
    ledger: (owner: string) => `${base}/store/${owner}/ledger`,
    relay: (cls: PriorityClass, dest: string) => `${base}/relay/${cls}/${dest}`,
    forecast: `${base}/weather/forecast`,
  };
}
export type TopicTree = ReturnType<typeof topicTree>;

/**
 * ACL classes. Every topic belongs to exactly one; `acl.ts` grants each role access per class.
 *   drone: drone state and availability    status: power, uplink, fleet, bridge state
 *   command: drone /set and bridge requests  response: bridge responses
 *   store: the store protocol, per owner     relay: uplink items
 *   weather: forecasts published for the power budget
 *   other: anything else under any root, $SYS included
 */
export const TOPIC_CLASSES = ['drone', 'status', 'command', 'response', 'store', 'relay', 'weather', 'discovery', 'other'] as const;
export type TopicClass = (typeof TOPIC_CLASSES)[number];

/**
 * The topic filters of each class. `owner` narrows the store class to one owner's topics (the
 * ACL's "own" access); `other` is every topic, `$SYS` included.
 */
/** Home Assistant's MQTT discovery prefix (its default; `dashboard.homeAssistant` in canopy.yaml). */
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

export function classFilters(base: string, owner = '+', discoveryPrefix = DEFAULT_DISCOVERY_PREFIX): Record<TopicClass, string[]> {
  return {
    drone: [`${base}/drones/+`, `${base}/drones/+/availability`],
    // relay/downlink lies under the relay class's filter too; it is status (viewers read it), and no client may publish it: the relay refuses a class it does not know.
    status: [`${base}/power`, `${base}/power/history`, `${base}/uplink`, `${base}/relay/downlink`, `${base}/fleet`, `${base}/bridge/state`, `${base}/bridge/event`, `${base}/bridge/event/history`],
    command: [`${base}/drones/+/set`, `${base}/bridge/request/#`],
    response: [`${base}/bridge/response/#`],
    store: [`${base}/store/${owner}/#`],
    relay: [`${base}/relay/+/#`],
    weather: [`${base}/weather/forecast`],
    // Discovery configs, and Home Assistant's own birth and will (<prefix>/status).
    discovery: [`${discoveryPrefix}/#`],
    other: ['#', '$SYS/#'],
  };
}

/** A topic name understood: which part of the tree it is and its parameters. */
export type ParsedTopic =
  | { kind: 'drone'; id: string }
  | { kind: 'availability'; id: string }
  | { kind: 'droneSet'; id: string }
  | { kind: 'power' }
  | { kind: 'powerHistory' }
  | { kind: 'uplink' }
  | { kind: 'downlink' }
  | { kind: 'fleet' }
  | { kind: 'bridgeState' }
  | { kind: 'event' }
  | { kind: 'eventHistory' }
  | { kind: 'request'; verb: string }
  | { kind: 'response'; verb: string }
  | { kind: 'store'; owner: string; path: string }
  | { kind: 'relay'; cls: PriorityClass; dest: string }
  | { kind: 'forecast' };

/** Parses a topic name under `base`; undefined when it is not part of Canopy's tree. */
export function parseTopic(base: string, topic: string): ParsedTopic | undefined {
  if (!topic.startsWith(`${base}/`)) return undefined;
  const levels = topic.slice(base.length + 1).split('/');
  const [first, second, third] = levels;
  const rest = (from: number) => levels.slice(from).join('/');
  switch (first) {
    case 'drones':
      if (!second) return undefined;
      if (levels.length === 2) return { kind: 'drone', id: second };
      if (levels.length === 3 && third === 'availability') return { kind: 'availability', id: second };
      if (levels.length === 3 && third === 'set') return { kind: 'droneSet', id: second };
      return undefined;
    case 'power':
      if (levels.length === 2 && second === 'history') return { kind: 'powerHistory' };
      return levels.length === 1 ? { kind: 'power' } : undefined;
    case 'uplink':
      return levels.length === 1 ? { kind: 'uplink' } : undefined;
    case 'fleet':
      return levels.length === 1 ? { kind: 'fleet' } : undefined;
    case 'bridge':
      if (levels.length === 2 && second === 'state') return { kind: 'bridgeState' };
      if (levels.length === 2 && second === 'event') return { kind: 'event' };
      if (levels.length === 3 && second === 'event' && third === 'history') return { kind: 'eventHistory' };
      if (levels.length >= 3 && second === 'request' && rest(2)) return { kind: 'request', verb: rest(2) };
      if (levels.length >= 3 && second === 'response' && rest(2)) return { kind: 'response', verb: rest(2) };
      return undefined;
    case 'store':
      return second && levels.length >= 3 ? { kind: 'store', owner: second, path: rest(2) } : undefined;
    case 'relay':
      if (levels.length === 2 && second === 'downlink') return { kind: 'downlink' };
      return isPriorityClass(second) && levels.length >= 3 && rest(2) ? { kind: 'relay', cls: second, dest: rest(2) } : undefined;
    case 'weather':
      return levels.length === 2 && second === 'forecast' ? { kind: 'forecast' } : undefined;
    default:
      return undefined;
  }
}

export function isPriorityClass(s: string | undefined): s is PriorityClass {
  return (PRIORITY_CLASSES as readonly string[]).includes(s ?? '');
}

/** JSON payload helpers: every JSON payload on the tree is UTF-8 text. */
export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function decodeJson<T>(payload: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(payload)) as T;
}

/**
 * Relay envelope: how an item carries its Canopy id over MQTT 3.1.1, which has no user properties
 * (MQTT 5 upstreams get the id as the `canopy-id` user property too).
 *
 *   byte 0      0xFF  (never starts UTF-8 text, so a text payload is never taken for an envelope)
 *   byte 1      0x01  envelope version
 *   byte 2      n, the id's length in bytes (1..255)
 *   bytes 3..   the id, UTF-8: `<origin>:<counter>`, chosen by whoever first accepted the item
 *   rest        the body, untouched
 *
 * Publishers that retry (a phone after a lost PUBACK) send their own envelope so a retry keeps its
 * id; a plain payload gets an id from the relay when it is committed.
 */
export const ENVELOPE_MAGIC = 0xff;
export const ENVELOPE_VERSION = 0x01;
export const RELAY_ID_PROPERTY = 'canopy-id';

export interface RelayEnvelope {
  id: string;
  body: Uint8Array;
}

export function encodeEnvelope(id: string, body: Uint8Array): Uint8Array {
  const idBytes = new TextEncoder().encode(id);
  if (idBytes.length < 1 || idBytes.length > 255) throw new RangeError(`relay id must be 1..255 bytes of UTF-8, got ${idBytes.length}`);
  const out = new Uint8Array(3 + idBytes.length + body.length);
  out[0] = ENVELOPE_MAGIC;
  out[1] = ENVELOPE_VERSION;
  out[2] = idBytes.length;
  out.set(idBytes, 3);
  out.set(body, 3 + idBytes.length);
  return out;
}

/** The envelope in `payload`, or undefined when the payload is not one. */
export function decodeEnvelope(payload: Uint8Array): RelayEnvelope | undefined {
  if (payload.length < 4 || payload[0] !== ENVELOPE_MAGIC || payload[1] !== ENVELOPE_VERSION) return undefined;
  const n = payload[2]!;
  if (n === 0 || payload.length < 3 + n) return undefined;
  try {
    const id = new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(3, 3 + n));
    return { id, body: payload.subarray(3 + n) };
  } catch {
    return undefined;
  }
}
