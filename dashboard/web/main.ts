/**
 * The dashboard in the browser. It speaks only the mesh's public MQTT API (common/topics.ts)
 * over WebSocket on its own origin, with the user's mesh credentials: retained state arrives at
 * once on connect, live updates after. Admin actions are bridge requests; whether this user is an
 * admin is the broker's answer to a subscription to the bridge responses (refused for viewers),
 * and the broker refuses a viewer's requests anyway.
 */
import mqtt, { type MqttClient } from 'mqtt';
import uPlot from 'uplot';
import { latLonToOffset } from '../../firmware-bridge/geo.ts';
import { decodeFrameBytes, encodeFrameBytes } from '../../common/frame.ts';
import {
  parseTopic,
  PRIORITY_CLASSES,
  topicTree,
  type BridgeEvent,
  type BridgeResponse,
  type DownlinkStatus,
  type DroneState,
  type EventHistory,
  type FleetState,
  type ForecastSource,
  type LedgerState,
  type PowerHistory,
  type PowerState,
  type UplinkStatus,
} from '../../common/topics.ts';

const $ = <T extends HTMLElement | SVGElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;
const SVG_NS = 'http://www.w3.org/2000/svg';
const base = document.body.dataset.baseTopic ?? 'canopy';
const topics = topicTree(base);

const ROLE_COLOURS: Record<string, string> = {
  charging: '#8b98a5',
  ready: '#3fb950',
  launching: '#4fb3ff',
  'on-station': '#a371f7',
  'handing-over': '#db61a2',
  returning: '#d29922',
  landing: '#e3b341',
  away: '#f0883e',
  fault: '#f85149',
  lost: '#6e7681',
};
const MAX_POINTS = 3000;
const TRAIL = 40;
/** The events list's length, as the server's event history (history.ts) keeps. */
const MAX_EVENTS = 500;
/** The least time a chart spans (one point, or a few seconds of them, would span years or seconds). */
const MIN_SPAN_S = 15 * 60;

// ---- state -----------------------------------------------------------------------------------------

const drones = new Map<string, DroneState>();
const availability = new Map<string, string>();
const trails = new Map<string, { e: number; n: number }[]>();
let power: PowerState | undefined;
/** The controller's last 24 h (retained), drawn before what arrived live. */
let history: PowerHistory | undefined;
let fleet: FleetState | undefined;
let uplink: UplinkStatus | undefined;
/** The downlink's queue (retained `<base>/relay/downlink`, any user). */
let downlink: DownlinkStatus | undefined;
/** What a phone's hot cache holds (retained `<base>/store/<agent>/hot`, store readers only: docs/prefetch.md), by agent. */
interface HotCacheView {
  items: { item: string; title?: string; mime: string; total: number | null; have: number; contiguous: number; complete: boolean }[];
  usedBytes: number;
  quotaBytes: number | null;
}
const hotCaches = new Map<string, HotCacheView>();
let bridgeOnline = false;
/** Newest time seen in any state: the site's clock (simulated or real). */
let siteNow = 0;
/** The first forecast made for each 15-minute slot, to set against what actually came. */
const predictions = new Map<number, number>();
const powerSeries = { t: [] as number[], gen: [] as number[], load: [] as number[], batt: [] as number[] };
const ghiActual = new Map<number, number>();
const uplinkSeries = { t: [] as number[], granted: [] as number[], used: [] as number[], kbps: [] as (number | null)[] };
let lastDelivered: { atMs: number; bytes: number } | undefined;
let lastReason = '';
let lastWarning: string | null | undefined;
let lastUplinkState = '';
/** Bridge events already listed (live and replayed from the day's history both bring them). */
const seenEvents = new Set<string>();
let client: MqttClient | undefined;
let admin = false;
const pending = new Map<string, (r: BridgeResponse<{ message: string }>) => void>();
const dirty = new Set<'map' | 'fleet' | 'power' | 'uplink' | 'store' | 'downlink'>();
/** This page's name as a store client (replies come back on `<base>/store/<agent>/res/<it>`). */
const storeClient = `dashboard-${Math.random().toString(36).slice(2, 10)}`;
type ClassUsage = Record<string, { items: number; bytes: number; quota: number | null }>;
/** Store agents (the phone, neighbours' phones) by name: online, and their usage by class. */
const agents = new Map<string, { online: boolean; usage?: ClassUsage }>();
/** The reciprocity ledgers (retained `<base>/store/<owner>/ledger`), by owner. */
const ledgers = new Map<string, LedgerState>();
let storeRid = 0;

// ---- formatting --------------------------------------------------------------------------------------

const fmt = (v: number | undefined | null, digits = 0) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
function batteryColour(pct: number | undefined): string {
  if (pct === undefined) return '#6e7681';
  return pct >= 60 ? '#3fb950' : pct >= 30 ? '#d29922' : '#f85149';
}
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function figures(target: HTMLElement, rows: [string, string][]): void {
  target.replaceChildren(...rows.map(([k, v]) => {
    const d = el('div');
    d.append(el('dt', {}, k), el('dd', {}, v));
    return d;
  }));
}
function push<T>(arr: T[], v: T): void {
  arr.push(v);
  if (arr.length > MAX_POINTS) arr.shift();
}

// ---- messages ----------------------------------------------------------------------------------------

function onMessage(topic: string, payload: Uint8Array): void {
  const t = parseTopic(base, topic);
  if (!t) return;
  const text = new TextDecoder().decode(payload);
  if (t.kind === 'availability') {
    const was = availability.get(t.id);
    availability.set(t.id, text);
    if (was === 'online' && text === 'offline') logEvent(`${t.id} offline (no HEARTBEAT)`, true);
    dirty.add('fleet');
    return;
  }
  if (t.kind === 'store') return onStore(t.owner, t.path, payload);
  if (t.kind === 'bridgeState') {
    bridgeOnline = text === 'online';
    setConnection();
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return;
  }
  switch (t.kind) {
    case 'drone': {
      const d = value as DroneState;
      drones.set(t.id, d);
      siteNow = Math.max(siteNow, d.updatedAt);
      const p = local(d);
      if (p) {
        const trail = trails.get(t.id) ?? [];
        const last = trail[trail.length - 1];
        if (!last || Math.hypot(last.e - p.e, last.n - p.n) > 0.5) trail.push(p);
        if (trail.length > TRAIL) trail.shift();
        trails.set(t.id, trail);
      }
      dirty.add('map').add('fleet');
      return;
    }
    case 'power':
      return onPower(value as PowerState);
    case 'powerHistory':
      history = value as PowerHistory;
      dirty.add('power');
      return;
    case 'fleet':
      fleet = value as FleetState;
      dirty.add('map').add('fleet');
      return;
    case 'uplink':
      return onUplink(value as UplinkStatus);
    case 'downlink':
      downlink = value as DownlinkStatus;
      dirty.add('downlink');
      return;
    case 'event':
      return onEvent(value as BridgeEvent, true);
    case 'eventHistory':
      // The day so far, oldest first: listed in time order among what arrived live, without alerts.
      for (const ev of (value as EventHistory).events ?? []) onEvent(ev, false);
      return;
    case 'response': {
      const r = value as BridgeResponse<{ message: string }>;
      const resolve = r.transaction ? pending.get(r.transaction) : undefined;
      if (resolve && r.transaction) {
        pending.delete(r.transaction);
        resolve(r);
      }
      return;
    }
  }
}

// ---- the store agents (admins only: the ACL keeps the store's topics from viewers) -------------------


function onStore(agent: string, path: string, payload: Uint8Array): void {
  if (path === 'availability') {
    const online = new TextDecoder().decode(payload) === 'online';
    const a = agents.get(agent) ?? { online };
    a.online = online;
    agents.set(agent, a);
    if (online) askUsage(agent);
    dirty.add('store');
    return;
  }
  if (path === 'ledger' || path === 'hot') {
    try {
      const value: unknown = JSON.parse(new TextDecoder().decode(payload));
      if (path === 'ledger') ledgers.set(agent, value as LedgerState);
      else hotCaches.set(agent, value as HotCacheView);
      dirty.add(path === 'ledger' ? 'store' : 'downlink');
    } catch {
      // Not JSON: nothing to show.
    }
    return;
  }
  if (path !== `res/${storeClient}`) return;
  try {
    const r = decodeFrameBytes(payload).header as { ok: boolean; data?: { usage?: ClassUsage } };
    const a = agents.get(agent);
    if (a && r.ok && r.data?.usage) {
      a.usage = r.data.usage;
      dirty.add('store');
    }
  } catch {
    // Not a frame: nothing to show.
  }
}

function askUsage(agent: string): void {
  if (!admin || !client?.connected) return;
  // Typed as a Node Buffer; mqtt.js's browser build writes any Uint8Array.
  const frame = encodeFrameBytes({ op: 'usage', rid: `u${++storeRid}` }) as unknown as Parameters<MqttClient['publish']>[1];
  client.publish(topics.store(agent, 'req', storeClient), frame, { qos: 0 });
}

/** Whether `box` shows the store's topics (an admin, `count` of them seen); otherwise it says why not. */
function adminShows(box: HTMLElement, what: string, count: number, none: string): boolean {
  if (!admin) box.textContent = `${what} is shown to admins (their topics are not a viewer's).`;
  else if (count === 0) box.textContent = none;
  return admin && count > 0;
}

function renderStore(): void {
  const box = $('#store-agents');
  if (!adminShows(box, "The store agents' usage", agents.size, 'No store agent has been seen on the mesh.')) return;
  box.replaceChildren(
    ...[...agents].sort(([a], [b]) => a.localeCompare(b)).map(([name, a]) => {
      const div = el('div', { class: 'agent', 'data-agent': name });
      div.append(el('h3', {}, `${name} · ${a.online ? 'online' : 'offline'}`));
      if (!a.usage) return div;
      const head = el('tr');
      for (const h of ['class', 'items', 'bytes', 'quota', 'used']) head.append(el('th', {}, h));
      const body = el('tbody');
      for (const [cls, u] of Object.entries(a.usage)) {
        const tr = el('tr', { 'data-class': cls });
        for (const [text, c] of [[cls], [String(u.items), 'num'], [bytes(u.bytes), 'num'], [u.quota === null ? 'none' : bytes(u.quota), 'num'], [u.quota ? `${fmt((100 * u.bytes) / u.quota)} %` : '–', 'num']] as [string, string?][]) tr.append(el('td', c ? { class: c } : {}, text));
        body.append(tr);
      }
      const table = el('table');
      const thead = el('thead');
      thead.append(head);
      table.append(thead, body);
      div.append(table);
      return div;
    }),
  );
  renderLedgers();
}

/** Per neighbour: what it held for the owner and the owner for it, its audits, the hot bytes served, its room (docs/audits.md). */
function renderLedgers(): void {
  const box = $('#store-ledger');
  box.replaceChildren(
    ...[...ledgers.values()].map((l) => {
      const headers = ['neighbour', 'holds for us', 'byte-days', 'we hold', 'byte-days', 'audits ok', 'failed', 'hot served', 'room'];
      const cells = (r: LedgerState['neighbours'][number]): [string, string?][] => [
        [r.neighbour],
        [bytes(r.heldForUsBytes), 'num'],
        [fmt(r.heldForUsByteDays / 1e6), 'num'],
        [bytes(r.heldByUsBytes), 'num'],
        [fmt(r.heldByUsByteDays / 1e6), 'num'],
        [String(r.auditsPassed), 'num'],
        [String(r.auditsFailed), 'num'],
        [bytes(r.hotServedBytes), 'num'],
        [bytes(r.roomBytes), 'num'],
      ];
      const ledgerTable = table({ 'data-ledger': l.owner }, headers, l.neighbours ?? [], cells, (r) => ({ 'data-neighbour': r.neighbour, ...(r.auditsFailed > 0 && { class: 'warn' }) }));
      const div = el('div');
      div.append(el('h3', {}, `Reciprocity ledger of ${l.owner} (byte-days in MB·days)`), ledgerTable);
      return div;
    }),
  );
}

/** A table of text cells: `cells` per row, a `num` class on the numeric ones; each row's attributes from `attrs`. */
function table<R>(attrs: Record<string, string>, headers: string[], rows: R[], cells: (r: R) => [string, string?][], rowAttrs: (r: R) => Record<string, string> = () => ({})): HTMLTableElement {
  const t = el('table', attrs);
  const head = el('tr');
  for (const h of headers) head.append(el('th', {}, h));
  const thead = el('thead');
  thead.append(head);
  const body = el('tbody');
  for (const r of rows) body.append(row(rowAttrs(r), cells(r)));
  t.append(thead, body);
  return t;
}

function row(attrs: Record<string, string>, cells: [string, string?][]): HTMLTableRowElement {
  const tr = el('tr', attrs);
  for (const [text, c] of cells) tr.append(el('td', c ? { class: c } : {}, text));
  return tr;
}

/** The downlink's queue (item, class, bytes in the cache of the total, state, why it waits) and what the phone's hot cache holds. */
function renderDownlink(): void {
  const d = downlink;
  $('#downlink-summary').textContent = !d
    ? '— no downlink on this site'
    : `— into ${d.agent}'s hot cache; ${bytes(d.fetchedBytes)} fetched${d.whPerGb === null ? '' : `, ${fmt(d.whPerGb)} Wh/GB of dish energy`}${d.windowBytes ? ` · this window ${bytes(d.windowBytes.used)}${d.windowBytes.budget === null ? '' : ` of ${bytes(d.windowBytes.budget)}`}` : ''}`;
  const body = el('tbody');
  for (const i of d?.items ?? []) {
    const done = `${bytes(i.have)} / ${i.total === null ? '?' : bytes(i.total)}${i.total ? ` (${fmt((100 * i.have) / i.total)} %)` : ''}`;
    body.append(row({ 'data-item': i.item, 'data-state': i.state, ...(i.state === 'refused' && { class: 'warn' }) }, [[i.title ? `${i.item} — ${i.title}` : i.item], [`${i.cls}${i.now ? ', now' : ''}`], [done, 'num'], [i.state], [i.reason ?? '', 'why']]));
  }
  $('#downlink tbody').replaceWith(body);
  const box = $('#hot-cache');
  if (!adminShows(box, "What the phones' hot caches hold", hotCaches.size, 'No phone has published its hot cache yet.')) return;
  box.replaceChildren(
    ...[...hotCaches].sort(([a], [b]) => a.localeCompare(b)).map(([agent, h]) => {
      const div = el('div', { 'data-agent': agent });
      div.append(el('h3', {}, `${agent}: ${bytes(h.usedBytes)} of ${h.quotaBytes === null ? 'no quota' : bytes(h.quotaBytes)}`));
      const cells = (i: HotCacheView['items'][number]): [string, string?][] => [[i.title ? `${i.item} — ${i.title}` : i.item], [i.mime], [`${bytes(i.have)} / ${i.total === null ? '?' : bytes(i.total)}`, 'num'], [bytes(i.contiguous), 'num'], [i.complete ? 'complete' : 'partial']];
      const scroll = el('div', { class: 'scroll' });
      scroll.append(table({ class: 'hot-items' }, ['item', 'type', 'cached / total', 'from the start', ''], h.items ?? [], cells, (i) => ({ 'data-item': i.item, 'data-complete': String(i.complete) })));
      div.append(scroll);
      return div;
    }),
  );
}

function local(d: DroneState): { e: number; n: number } | undefined {
  if (!d.position || !fleet) return undefined;
  const { n, e } = latLonToOffset(fleet.origin.lat, fleet.origin.lon, d.position.lat, d.position.lon);
  return { n, e };
}

function onPower(p: PowerState): void {
  power = p;
  siteNow = Math.max(siteNow, p.updatedAt);
  const s = p.updatedAt / 1000;
  if (powerSeries.t.length === 0 || s > powerSeries.t[powerSeries.t.length - 1]!) {
    push(powerSeries.t, s);
    push(powerSeries.gen, p.solarW);
    push(powerSeries.load, p.loadW);
    push(powerSeries.batt, p.batteryPct ?? NaN);
  }
  for (const f of p.forecast ?? []) if (!predictions.has(f.atMs)) predictions.set(f.atMs, f.ghiWm2);
  if (p.ghiWm2 !== undefined) ghiActual.set(p.updatedAt, p.ghiWm2);
  // A day of live readings at most (a Map iterates oldest first).
  for (const t of ghiActual.keys()) {
    if (t >= p.updatedAt - 24 * 3600_000) break;
    ghiActual.delete(t);
  }
  // A decision, not its figures: the reason's numbers move with every update.
  const decision = `${p.stations}|${p.uplinkGranted}|${(p.reason ?? '').replace(/[\d.,]+/g, '#')}`;
  if (p.reason && decision !== lastReason) {
    logEvent(`power: ${p.stations ?? '?'} stations, uplink ${p.uplinkGranted ? 'granted' : 'not granted'}: ${p.reason}`, false, p.updatedAt);
    lastReason = decision;
  }
  if (p.warning !== lastWarning) {
    if (p.warning) alertUser(`Power: ${p.warning}`);
    lastWarning = p.warning;
  }
  dirty.add('power').add('uplink');
}

function onUplink(u: UplinkStatus): void {
  uplink = u;
  siteNow = Math.max(siteNow, u.updatedAt);
  const delivered = PRIORITY_CLASSES.reduce((s, c) => s + u.delivered[c].bytes, 0);
  let kbps: number | null = null;
  if (lastDelivered && u.updatedAt > lastDelivered.atMs) kbps = ((delivered - lastDelivered.bytes) * 8) / (u.updatedAt - lastDelivered.atMs);
  lastDelivered = { atMs: u.updatedAt, bytes: delivered };
  push(uplinkSeries.t, u.updatedAt / 1000);
  push(uplinkSeries.granted, power?.uplinkGranted ? 1 : 0);
  push(uplinkSeries.used, u.dish.on ? 1 : 0);
  push(uplinkSeries.kbps, kbps);
  if (lastUplinkState && u.state !== lastUplinkState) logEvent(`uplink: ${lastUplinkState} → ${u.state}${u.paused ? ' (paused)' : ''}`, false, u.updatedAt);
  lastUplinkState = u.state;
  dirty.add('uplink');
}

/** One bridge event into the list, once; `live` ones (not the day's replay) also raise their alert. */
function onEvent(ev: BridgeEvent, live: boolean): void {
  const key = JSON.stringify(ev);
  if (seenEvents.has(key)) return;
  seenEvents.add(key);
  if (seenEvents.size > 4 * MAX_EVENTS) seenEvents.delete(seenEvents.values().next().value!);
  if (ev.type === 'fleet-transition') {
    const d = ev.data;
    const id = `d${d.sysid}`;
    // The controller says which transitions are failsafes; an operator's Land is none.
    const bad = d.cause === 'failsafe';
    logEvent(`${id}: ${d.from} → ${d.to} — ${d.reason}`, bad, d.atMs);
    if (bad && live) alertUser(`Failsafe: ${id} ${d.to} — ${d.reason}`);
  } else if (ev.type === 'alert') {
    logEvent(ev.data.message, true, ev.data.atMs);
    if (live) alertUser(ev.data.message);
  } else if (ev.type === 'action') {
    logEvent(`admin ${ev.data.verb}: ${ev.data.message}`, !ev.data.ok, ev.data.atMs);
  }
}

// ---- rendering ---------------------------------------------------------------------------------------

/** Newest first, in the site's time order (the day's replay arrives after what came live). */
function logEvent(text: string, bad = false, atMs = siteNow): void {
  const list = $('#events');
  const li = el('li', bad ? { class: 'bad', 'data-at': String(atMs) } : { 'data-at': String(atMs) });
  li.append(el('time', {}, atMs ? time(atMs) : ''), document.createTextNode(text));
  const after = [...list.children].find((x) => Number((x as HTMLElement).dataset.at) <= atMs);
  list.insertBefore(li, after ?? null);
  while (list.children.length > MAX_EVENTS) list.lastChild!.remove();
}

function alertUser(text: string): void {
  const box = $('#alerts');
  const div = el('div', { class: 'alert' });
  const close = el('button', { class: 'small', 'aria-label': 'dismiss' }, '×');
  close.addEventListener('click', () => div.remove());
  div.append(el('span', {}, `${siteNow ? time(siteNow) : ''} ${text}`), close);
  box.prepend(div);
  while (box.children.length > 8) box.lastChild!.remove();
}

function renderMap(): void {
  const map = $<SVGSVGElement>('#map');
  const points: { e: number; n: number }[] = [{ e: 0, n: 0 }, ...(fleet?.stations ?? [])];
  for (const d of drones.values()) {
    const p = local(d);
    if (p) points.push(p);
  }
  const half = Math.max(40, ...points.map((p) => Math.max(Math.abs(p.e), Math.abs(p.n)))) * 1.15;
  map.setAttribute('viewBox', `${-half} ${-half} ${2 * half} ${2 * half}`);
  const r = half / 45;
  const nodes: SVGElement[] = [];
  // Axes through the station, and a ring every 50 m.
  nodes.push(svg('line', { x1: -half, y1: 0, x2: half, y2: 0, stroke: '#2a3440', 'stroke-width': r / 5 }), svg('line', { x1: 0, y1: -half, x2: 0, y2: half, stroke: '#2a3440', 'stroke-width': r / 5 }));
  for (let ring = 50; ring < half; ring += 50) nodes.push(svg('circle', { cx: 0, cy: 0, r: ring, fill: 'none', stroke: '#1f2a35', 'stroke-width': r / 5 }));
  nodes.push(svg('text', { x: -half + r, y: half - r, 'font-size': r * 2.2, fill: '#8b98a5' }, `rings 50 m · N up · ${fleet ? `net at ${fleet.altitudeM} m` : ''}`));
  // The net: the hull of its stations, and each station.
  const stations = fleet?.stations ?? [];
  const hull = convexHull(stations.map((s) => ({ x: s.e, y: -s.n })));
  if (hull.length >= 3) nodes.push(svg('polygon', { points: hull.map((p) => `${p.x},${p.y}`).join(' '), fill: 'rgba(163,113,247,0.12)', stroke: '#a371f7', 'stroke-width': r / 3 }));
  for (const s of stations) nodes.push(svg('rect', { x: s.e - r / 2, y: -s.n - r / 2, width: r, height: r, fill: 'none', stroke: '#a371f7', 'stroke-width': r / 4 }));
  nodes.push(svg('rect', { x: -r, y: -r, width: 2 * r, height: 2 * r, fill: '#e6edf3' }, ''));
  for (const [id, trail] of trails) {
    if (trail.length < 2) continue;
    const role = drones.get(id)?.role ?? '';
    nodes.push(svg('polyline', { points: trail.map((p) => `${p.e},${-p.n}`).join(' '), fill: 'none', stroke: ROLE_COLOURS[role] ?? '#8b98a5', 'stroke-opacity': 0.35, 'stroke-width': r / 3 }));
  }
  for (const d of [...drones.values()].sort((a, b) => a.sysid - b.sysid)) {
    const p = local(d);
    if (!p) continue;
    const g = svg('g', { class: 'drone', 'data-id': d.id });
    const pct = d.battery?.remainingPct;
    g.append(
      svg('title', {}, `${d.id} ${d.role ?? ''} ${d.mode ?? ''} ${fmt(pct)} % ${fmt(d.position?.altM, 0)} m`),
      svg('circle', { cx: p.e, cy: -p.n, r, fill: ROLE_COLOURS[d.role ?? ''] ?? '#8b98a5', stroke: batteryColour(pct), 'stroke-width': r / 2, opacity: availability.get(d.id) === 'offline' ? 0.4 : 1 }),
    );
    nodes.push(g);
  }
  map.replaceChildren(...nodes);
  $('#map-info').textContent = `${drones.size} drones · ${stations.length} stations`;
}

/** Andrew's monotone chain. */
function convexHull(points: { x: number; y: number }[]): { x: number; y: number }[] {
  const p = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  if (p.length < 3) return p;
  const cross = (o: { x: number; y: number }, a: { x: number; y: number }, b: { x: number; y: number }) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const half = (pts: typeof p) => {
    const out: typeof p = [];
    for (const q of pts) {
      while (out.length >= 2 && cross(out[out.length - 2]!, out[out.length - 1]!, q) <= 0) out.pop();
      out.push(q);
    }
    out.pop();
    return out;
  };
  return [...half(p), ...half([...p].reverse())];
}

/** The fleet table's column names but the actions', from its header. */
function fleetColumns(): string[] {
  return [...document.querySelectorAll('#fleet thead th:not(.admin-only)')].map((th) => th.textContent ?? '');
}

/** Table rows by drone id, updated in place (a rebuilt row would swallow a click on its button). */
const fleetRows = new Map<string, { tr: HTMLTableRowElement; cells: HTMLTableCellElement[]; admin: boolean }>();

function renderFleet(): void {
  const tbody = $('#fleet tbody');
  const sorted = [...drones.values()].sort((a, b) => a.sysid - b.sysid);
  for (const d of sorted) {
    let row = fleetRows.get(d.id);
    if (!row || row.admin !== admin) {
      const tr = el('tr', { 'data-id': d.id });
      // Each cell names its column (the phone layout shows the name beside the value).
      const cells = fleetColumns().map((label, i) => el('td', i >= 3 ? { class: 'num', 'data-label': label } : { 'data-label': label }));
      const td = el('td', { class: 'admin-only' });
      if (admin) {
        td.append(el('button', { class: 'small danger', 'data-action': 'drone/land', 'data-id': d.id, 'data-confirm': `Land ${d.id} where it is now?` }, 'Land'), ...groundActionButtons(d.id));
      }
      tr.append(...cells, td);
      row?.tr.remove();
      row = { tr, cells, admin };
      fleetRows.set(d.id, row);
      // Keep the table in sysid order.
      const next = sorted.slice(sorted.indexOf(d) + 1).map((x) => fleetRows.get(x.id)?.tr).find((x) => x?.parentNode === tbody);
      tbody.insertBefore(tr, next ?? null);
    }
    const offline = availability.get(d.id) === 'offline';
    const texts = [
      d.id,
      offline ? 'offline' : d.telemetry === 'waiting for telemetry' ? 'waiting for telemetry' : d.waiting ? `${d.role ?? '–'} · ${d.waiting}` : (d.role ?? '–'),
      d.mode ?? '–',
      fmt(d.battery?.remainingPct),
      fmt(d.battery?.voltageV, 2),
      d.link?.lossPct === undefined ? '–' : fmt(100 - d.link.lossPct, 1),
      fmt(d.link?.rssi),
      d.heartbeatAt ? `${fmt(Math.max(0, (siteNow - d.heartbeatAt) / 1000))} s ago` : '–',
    ];
    texts.forEach((text, i) => {
      if (row.cells[i]!.textContent !== text) row.cells[i]!.textContent = text;
    });
    row.cells[1]!.style.color = ROLE_COLOURS[d.role ?? ''] ?? '';
    row.cells[1]!.title = d.readiness && !d.readiness.ready ? `autopilot: ${d.readiness.reason ?? 'not ready'}` : '';
    showGroundActions(row.tr, d.role);
  }
  const roles = fleet?.roles ?? {};
  $('#fleet-summary').textContent = fleet ? `${stationsText(fleet)}${windText(fleet)} · ${Object.entries(roles).filter(([, n]) => n > 0).map(([r, n]) => `${n} ${r}`).join(', ')}` : '';
  $('#legend').replaceChildren(
    ...Object.entries(ROLE_COLOURS).map(([role, c]) => {
      const s = el('span');
      const i = el('i');
      i.style.background = c;
      s.append(i, document.createTextNode(role));
      return s;
    }),
    el('span', {}, 'ring: battery ≥60 / ≥30 / <30 %'),
  );
}

function renderPower(): void {
  if (!power) return;
  const e = power.energyToday;
  figures($('#power-figures'), [
    ['generation', watts(power.solarW)],
    ['loads', watts(power.loadW)],
    // Measured by the station's battery monitor, or the budget's estimate from the bus balance.
    ['station battery', `${fmt(power.batteryPct)} %${power.batteryMeasured === undefined ? '' : power.batteryMeasured ? ' (measured)' : ' (estimated)'}`],
    ['generated today', `${fmt(e?.generatedWh)} Wh`],
    ['consumed today', `${fmt(e?.consumedWh)} Wh`],
    ['stations planned', fmt(power.stations)],
    ['irradiance', `${fmt(power.ghiWm2)} W/m²`],
    ['land by', power.landByMs ? time(power.landByMs) : '–'],
  ]);
  $('#power-reason').textContent = `${power.reason ?? ''}${power.warning ? ` — ${power.warning}` : ''}`;
  renderForecastSource(power.forecastSource);
  // The controller's history first, then the live points newer than it.
  const past = history?.points ?? [];
  // updatedAt: the newest state the history averages (the step under way included).
  const liveFrom = past.length && history ? history.updatedAt / 1000 : -Infinity;
  const live = powerSeries.t.map((t, i) => i).filter((i) => powerSeries.t[i]! > liveFrom);
  charts.power?.setData([
    [...past.map((p) => p.atMs / 1000), ...live.map((i) => powerSeries.t[i]!)],
    [...past.map((p) => p.solarW), ...live.map((i) => powerSeries.gen[i]!)],
    [...past.map((p) => p.loadW), ...live.map((i) => powerSeries.load[i]!)],
  ]);
  const forecastAt = new Map(predictions);
  const actualAt = new Map(ghiActual);
  for (const p of past) {
    if (p.forecastGhiWm2 !== undefined && !forecastAt.has(p.atMs)) forecastAt.set(p.atMs, p.forecastGhiWm2);
    if (p.ghiWm2 !== undefined) actualAt.set(p.atMs, p.ghiWm2);
  }
  // The last day and the forecast's day ahead.
  const from = siteNow - 24 * 3600_000;
  const shown = [...new Set([...forecastAt.keys(), ...actualAt.keys()])].filter((x) => x >= from).sort((a, b) => a - b);
  charts.forecast?.setData([shown.map((x) => x / 1000), shown.map((x) => forecastAt.get(x) ?? null), shown.map((x) => actualAt.get(x) ?? null)]);
}

/** Which forecast the chart's forecast line is: an outside weather forecast (how it came, when issued) or the budget's own of the measured sky; and the latest refusal. */
function renderForecastSource(f: ForecastSource | undefined): void {
  const o = f?.outside;
  $('#forecast-source').textContent = !f ? '' : o ? `— outside forecast (${o.route === 'uplink' ? 'fetched over the uplink' : 'from the mesh'}, issued ${new Date(o.issuedAtMs).toISOString().slice(5, 16).replace('T', ' ')} UTC)` : '— from the measured sky (no outside forecast)';
  $('#forecast-refused').textContent = f?.refused ? `Outside forecast refused (${f.refused.route}, ${time(f.refused.atMs)} UTC): ${f.refused.reason}` : '';
}

function renderUplink(): void {
  if (!uplink) return;
  const u = uplink;
  figures($('#uplink-figures'), [
    ['state', `${u.state}${u.paused ? ' (paused)' : ''}`],
    ['power grant', power ? (power.uplinkGranted ? 'granted' : 'not granted') : '–'],
    ['dish', u.dish.on ? 'on' : 'off'],
    ['sent today', bytes(u.sentToday?.bytes ?? 0)],
    ['throughput', `${fmt(uplinkSeries.kbps[uplinkSeries.kbps.length - 1] ?? null, 1)} kbit/s`],
    ['Wh per GB', fmt(u.dish.whPerGb, 0)],
    ['window', u.window ? `${time(u.window.start)}–${time(u.window.end)}` : 'none now'],
    ['next window', u.nextWindow ? `${time(u.nextWindow.start)}–${time(u.nextWindow.end)}` : '–'],
    ['window bytes', u.windowBytes ? `${bytes(u.windowBytes.used)} of ${u.windowBytes.budget === null ? 'unlimited' : bytes(u.windowBytes.budget)}` : '–'],
  ]);
  $('#queue tbody').replaceChildren(
    ...PRIORITY_CLASSES.map((c) => {
      const tr = el('tr', { 'data-class': c });
      for (const [text, cls] of [[c], [String(u.queued[c].items), 'num'], [bytes(u.queued[c].bytes), 'num'], [bytes(u.delivered[c].bytes), 'num'], [String(u.expired[c]), 'num']] as [string, string?][]) tr.append(el('td', cls ? { class: cls } : {}, text));
      return tr;
    }),
  );
  // The next 24 h: windows as bars, now at the left edge.
  const tl = $<SVGSVGElement>('#timeline');
  const now = siteNow || u.updatedAt;
  const span = 24 * 3600_000;
  const x = (ms: number) => Math.max(0, Math.min(600, ((ms - now) / span) * 600));
  const parts: SVGElement[] = [];
  for (const w of u.upcoming ?? [u.window, u.nextWindow].filter((v) => v !== null)) {
    const open = w.start <= now && now < w.end;
    const bar = svg('rect', { x: x(w.start), y: 8, width: Math.max(1, x(w.end) - x(w.start)), height: 18, fill: open ? '#3fb950' : '#4fb3ff', class: 'window' });
    bar.append(svg('title', {}, `${time(w.start)}–${time(w.end)}${w.budgetBytes === undefined ? '' : `, ${bytes(w.budgetBytes)}`}`));
    parts.push(bar);
  }
  for (let h = 0; h <= 24; h += 6) parts.push(svg('text', { x: Math.min(585, (h / 24) * 600 + 2), y: 38, 'font-size': 9, fill: '#8b98a5' }, h === 0 ? 'now' : `+${h} h`));
  tl.replaceChildren(...parts);
  charts.uplink?.setData([uplinkSeries.t, uplinkSeries.granted, uplinkSeries.used, uplinkSeries.kbps]);
  // Store: what went through the relay per class.
  const totals = PRIORITY_CLASSES.map((c) => ({ c, b: u.queued[c].bytes + u.delivered[c].bytes }));
  const max = Math.max(1, ...totals.map((t) => t.b));
  $('#store-bars').replaceChildren(
    ...totals.map(({ c, b }) => {
      const row = el('div', { class: 'bar', 'data-class': c });
      const bar = el('span');
      bar.style.width = `${(100 * b) / max}%`;
      row.append(el('span', {}, c), bar, el('span', { class: 'num' }, bytes(b)));
      return row;
    }),
  );
}

const charts: { power?: uPlot; forecast?: uPlot; uplink?: uPlot } = {};

/** Watts as a person reads them: W below a kilowatt, kW above (one decimal while it matters). */
function watts(w: number | null | undefined): string {
  if (w === null || w === undefined || !Number.isFinite(w)) return '–';
  const kw = Math.abs(w) >= 1000;
  const v = kw ? w / 1000 : w;
  return `${v.toFixed(kw && Math.abs(v) < 10 && !Number.isInteger(v) ? 1 : 0)} ${kw ? 'kW' : 'W'}`;
}

/** A y axis as wide as its longest tick label (uPlot's default 50 px cuts "12,000" off at the left). */
const fitLabels: uPlot.Axis.Size = (self, values, axisIdx, cycleNum) => {
  const axis = self.axes[axisIdx]!;
  // Converged after a pass or two: keep the size found (uPlot asks again while it settles).
  const found = (axis as { _size?: number })._size;
  if (cycleNum > 1 && found) return found;
  // uPlot holds the axis font as [css font at the device pixel ratio, px, css px] once built.
  const font = (axis.font as unknown as string[] | undefined)?.[0] ?? '12px system-ui';
  self.ctx.font = font;
  const widest = Math.max(0, ...(values ?? []).map((v) => self.ctx.measureText(String(v ?? '')).width)) / devicePixelRatio;
  return Math.ceil((axis.ticks?.size ?? 10) + (axis.gap ?? 5) + widest + 6);
};

/**
 * The x scale spans at least MIN_SPAN_S, ending at the newest point. uPlot spans a lone point
 * with 86,400 × 1000 of its time unit (years in seconds): one point is given the least span too.
 */
const minSpan: uPlot.Range.Function = (self, min, max) => {
  const xs = self.data[0] ?? [];
  const last = xs[xs.length - 1];
  if (xs.length === 1 && last !== undefined) return [last - MIN_SPAN_S, last];
  return min === null || max === null || max - min >= MIN_SPAN_S ? [min, max] : [max - MIN_SPAN_S, max];
};

function makeCharts(): void {
  const width = (id: string) => Math.max(260, $(id).clientWidth);
  const axis = { stroke: '#8b98a5', grid: { stroke: '#222c36' }, ticks: { stroke: '#222c36' } };
  const yAxis = { ...axis, size: fitLabels };
  const timeScale = { x: { time: true, range: minSpan } };
  const hooks = { draw: [markChart] };
  charts.power = new uPlot(
    {
      width: width('#chart-power'),
      height: 200,
      scales: timeScale,
      hooks,
      series: [{}, { label: 'generation', stroke: '#e3b341', width: 2, value: (_u, v) => watts(v) }, { label: 'loads', stroke: '#4fb3ff', width: 2, value: (_u, v) => watts(v) }],
      axes: [axis, { ...yAxis, values: (_u, splits) => splits.map(watts) }],
    },
    [[], [], []],
    $('#chart-power') as HTMLElement,
  );
  charts.forecast = new uPlot(
    {
      width: width('#chart-forecast'),
      height: 200,
      scales: timeScale,
      hooks,
      series: [{}, { label: 'forecast', stroke: '#a371f7', width: 2, spanGaps: true, dash: [6, 4] }, { label: 'actual', stroke: '#e3b341', width: 2, spanGaps: true, points: { show: true, size: 3 } }],
      axes: [axis, yAxis],
    },
    [[], [], []],
    $('#chart-forecast') as HTMLElement,
  );
  charts.uplink = new uPlot(
    {
      width: width('#chart-uplink'),
      height: 200,
      scales: { ...timeScale, onoff: { range: [0, 1.2] } },
      hooks,
      series: [
        {},
        { label: 'granted', stroke: '#3fb950', scale: 'onoff', paths: uPlot.paths.stepped!({ align: 1 }) },
        { label: 'dish on', stroke: '#d29922', scale: 'onoff', paths: uPlot.paths.stepped!({ align: 1 }) },
        { label: 'kbit/s', stroke: '#4fb3ff', scale: 'kbps', spanGaps: true },
      ],
      axes: [axis, { ...yAxis, scale: 'onoff' }, { ...yAxis, scale: 'kbps', side: 1, grid: { show: false } }],
    },
    [[], [], [], []],
    $('#chart-uplink') as HTMLElement,
  );
  new ResizeObserver(() => {
    charts.power?.setSize({ width: width('#chart-power'), height: 200 });
    charts.forecast?.setSize({ width: width('#chart-forecast'), height: 200 });
    charts.uplink?.setSize({ width: width('#chart-uplink'), height: 200 });
  }).observe($('#app'));
}

/** A drawn chart's point count, newest x and time span shown (s), on its container (what the browser test watches). */
function markChart(u: uPlot): void {
  const xs = u.data[0] ?? [];
  const box = u.root.parentElement;
  if (!box) return;
  box.dataset.points = String(xs.length);
  box.dataset.last = String(xs[xs.length - 1] ?? '');
  const { min, max } = u.scales.x ?? {};
  box.dataset.span = min === undefined || max === undefined ? '' : String(max - min);
}

function render(): void {
  if (siteNow) {
    // The date can go on a phone (style.css), the time stays.
    const iso = new Date(siteNow).toISOString();
    const date = el('span', { class: 'date' }, `${iso.slice(0, 10)} `);
    $('#clock').replaceChildren(date, `${iso.slice(11, 19)} UTC`);
  }
  if (dirty.has('map')) renderMap();
  if (dirty.has('fleet')) renderFleet();
  if (dirty.has('power')) renderPower();
  if (dirty.has('uplink')) renderUplink();
  if (dirty.has('store')) renderStore();
  if (dirty.has('downlink')) renderDownlink();
  dirty.clear();
}

// ---- connection, login, actions ----------------------------------------------------------------------

function setConnection(state?: string): void {
  const conn = $('#conn');
  const connected = client?.connected ?? false;
  conn.textContent = state ?? (connected ? (bridgeOnline ? 'connected' : 'connected, controller offline') : 'disconnected');
  conn.className = `pill ${connected && bridgeOnline ? 'ok' : 'bad'}`;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
let toastSeq = 0;

/** Shows an action's outcome for a few seconds; `data-seq` counts them (the browser test waits on it). */
function toast(text: string): void {
  const t = $('#toast');
  t.textContent = text;
  t.dataset.seq = String(++toastSeq);
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 6000);
}

function connect(username: string, password: string): void {
  const path = document.body.dataset.mqttPath ?? '/mqtt';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
  // aedes speaks MQTT 3.1.1 (protocol version 4).
  // Native timers: mqtt.js's default runs them in a blob: worker, which the page's CSP refuses.
  const c = mqtt.connect(url, { username, password, protocolVersion: 4, reconnectPeriod: 3000, connectTimeout: 10_000, clean: true, timerVariant: 'native' });
  client = c;
  let first = true;
  c.on('connect', () => {
    if (first) {
      first = false;
      sessionStorage.setItem('canopy-login', JSON.stringify({ username, password }));
      $('#login').hidden = true;
      $('#app').hidden = false;
      $('#logout').hidden = false;
      if (!charts.power) makeCharts();
    }
    setConnection();
    c.subscribe([topics.drone('+'), topics.availability('+'), topics.power, topics.powerHistory, topics.uplink, topics.downlink, topics.fleet, topics.bridgeState, topics.event, topics.eventHistory], { qos: 0 });
    // Only admins may read the bridge responses: the SUBACK tells this page which user it is.
    c.subscribe(topics.response('#'), { qos: 0 }, (err, granted) => {
      const code = granted?.[0]?.qos;
      setRole(username, !err && code !== undefined && code < 128);
      // The store agents' availability and this page's replies: topics only admins reach.
      if (admin) c.subscribe([topics.store('+', 'availability'), topics.store('+', 'res', storeClient), topics.ledger('+'), topics.store('+', 'hot')], { qos: 0 });
    });
  });
  c.on('message', (topic, payload) => onMessage(topic, payload));
  c.on('close', () => setConnection());
  c.on('offline', () => setConnection());
  c.on('error', (err: Error & { code?: number }) => {
    if (err.code === 4 || err.code === 5) {
      // Refused credentials: stop retrying and ask again.
      c.end(true);
      sessionStorage.removeItem('canopy-login');
      $('#login-error').textContent = err.code === 4 ? 'Wrong username or password.' : 'Not authorised.';
      $('#login').hidden = false;
      $('#app').hidden = true;
    }
    setConnection(`error: ${err.message}`);
  });
}

function setRole(username: string, isAdmin: boolean): void {
  admin = isAdmin;
  document.body.classList.toggle('admin', isAdmin);
  $('#actions').hidden = !isAdmin;
  const who = $('#who');
  who.hidden = false;
  who.textContent = `${username} · ${isAdmin ? 'admin' : 'viewer'}`;
  dirty.add('fleet').add('store').add('downlink');
}

// Buttons, not a method="dialog" form: a form submission reads as a navigation to automation tools.
$('#confirm-ok').addEventListener('click', () => ($('#confirm') as HTMLDialogElement).close('ok'));
$('#confirm-cancel').addEventListener('click', () => ($('#confirm') as HTMLDialogElement).close('cancel'));

function confirmAction(text: string): Promise<boolean> {
  const dialog = $('#confirm') as HTMLDialogElement;
  $('#confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

async function act(verb: string, data: Record<string, unknown>, question: string): Promise<void> {
  if (!admin || !client) return;
  if (!(await confirmAction(question))) return;
  const transaction = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const answer = new Promise<BridgeResponse<{ message: string }> | undefined>((resolve) => {
    pending.set(transaction, resolve);
    setTimeout(() => {
      if (pending.delete(transaction)) resolve(undefined);
    }, 15_000);
  });
  client.publish(topics.request(verb), JSON.stringify({ ...data, transaction }), { qos: 1 });
  const r = await answer;
  toast(!r ? `${verb}: no answer from the controller` : r.status === 'ok' ? r.data.message : `${verb} refused: ${r.error}`);
}

document.addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest<HTMLElement>('button[data-action]');
  if (!b) return;
  const data: Record<string, unknown> = b.dataset.id ? { id: b.dataset.id } : {};
  void act(b.dataset.action!, data, b.dataset.confirm ?? `${b.dataset.action}?`);
});

// Queue a URL for the downlink: the cache/prefetch bridge request (docs/prefetch.md).
$('#prefetch-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = new FormData(e.target as HTMLFormElement);
  const item = String(form.get('item'));
  const url = String(form.get('url'));
  const cls = String(form.get('class'));
  const now = form.get('now') !== null;
  void act('cache/prefetch', { item, url, class: cls, now }, `Prefetch ${item} (${cls}${now ? ', now' : ''}) from ${url} into the phone's hot cache, through the satellite in the windows the power budget grants?`);
});

$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = new FormData(e.target as HTMLFormElement);
  $('#login-error').textContent = '';
  connect(String(form.get('username')), String(form.get('password')));
});

$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem('canopy-login');
  client?.end(true);
  location.reload();
});

const saved = sessionStorage.getItem('canopy-login');
if (saved) {
  const { username, password } = JSON.parse(saved) as { username: string; password: string };
  connect(username, password);
}
setInterval(render, 500);
setInterval(() => {
  for (const [name, a] of agents) if (a.online) askUsage(name);
}, 30_000);

/**
 * The net's stations as the fleet flies them, which the power state's "stations planned" also
 * says (0 while held down; the roles that follow say who is still coming down).
 */
function stationsText(fleet: FleetState): string {
  if (fleet.hold) return 'recalled: held down until launched';
  const planned = fleet.stations.length;
  return `${Math.min(fleet.manned, planned)}/${planned} stations manned`;
}

/** A fleet row's admin buttons for a drone out of the plan on the ground: each shows only in its role (showGroundActions). */
const GROUND_ACTIONS = [
  { verb: 'drone/carried-back', role: 'away', label: 'Carried back', confirm: (id: string) => `Is ${id} back on its pad? It charges there and flies again once ready.` },
  { verb: 'drone/clear-fault', role: 'fault', label: 'Clear fault', confirm: (id: string) => `Clear the fault of ${id}? It charges if it stands on its pad; off it, it waits to be carried back.` },
] as const;

function groundActionButtons(id: string): HTMLElement[] {
  return GROUND_ACTIONS.map((a) => el('button', { class: 'small', 'data-action': a.verb, 'data-id': id, 'data-confirm': a.confirm(id), hidden: '' }, a.label));
}

function showGroundActions(tr: HTMLElement, role: string | undefined): void {
  for (const a of GROUND_ACTIONS) {
    const b = tr.querySelector<HTMLButtonElement>(`[data-action="${a.verb}"]`);
    if (b) b.hidden = role !== a.role;
  }
}

/** The sustained wind and what the fleet does about it (older controllers do not say). */
function windText(fleet: FleetState): string {
  if (fleet.windStage === undefined) return '';
  const speed = fleet.windMs === null || fleet.windMs === undefined ? 'wind not measured' : `wind ${fleet.windMs.toFixed(1)} m/s`;
  const stage = fleet.windStage === 'lower' ? ' (strong: net lowered, half size)' : fleet.windStage === 'land' ? ' (over the limit: all land)' : '';
  return ` · ${speed}${stage}`;
}
