/**
 * Home Assistant MQTT discovery (home-assistant.io/integrations/mqtt, "MQTT Discovery"): retained
 * `<prefix>/sensor/<node_id>/<object_id>/config` payloads that point Home Assistant at the mesh's
 * retained state topics, so the site shows up (and its energy in the energy dashboard) without any
 * configuration. node_id is the base topic; availability follows `<base>/bridge/state`.
 */
import type { Mesh } from '../mesh/mesh.ts';

import { DEFAULT_DISCOVERY_PREFIX } from '../../common/topics.ts';
export { DEFAULT_DISCOVERY_PREFIX };

/** The fields of a sensor discovery payload Canopy uses (names as Home Assistant spells them). */
export interface SensorDiscovery {
  name: string;
  unique_id: string;
  state_topic: string;
  value_template: string;
  unit_of_measurement?: string;
  device_class?: string;
  state_class?: 'measurement' | 'total' | 'total_increasing';
  availability_topic: string;
  payload_available: string;
  payload_not_available: string;
  device: { identifiers: string[]; name: string; manufacturer: string; model: string; sw_version?: string };
}

export interface DiscoveryMessage {
  topic: string;
  config: SensorDiscovery;
}

interface SensorSpec {
  objectId: string;
  name: string;
  topic: 'power' | 'uplink';
  /** A Jinja template over the state topic's JSON (`value_json`). */
  template: string;
  unit?: string;
  deviceClass?: string;
  stateClass: SensorDiscovery['state_class'];
}

const SENSORS: SensorSpec[] = [
  { objectId: 'generation', name: 'Solar generation', topic: 'power', template: '{{ value_json.solarW | round(1) }}', unit: 'W', deviceClass: 'power', stateClass: 'measurement' },
  { objectId: 'consumption', name: 'Consumption', topic: 'power', template: '{{ value_json.loadW | round(1) }}', unit: 'W', deviceClass: 'power', stateClass: 'measurement' },
  // total_increasing: Home Assistant treats the midnight reset as the start of a new meter cycle.
  { objectId: 'energy_generated', name: 'Energy generated today', topic: 'power', template: '{{ value_json.energyToday.generatedWh | round(1) }}', unit: 'Wh', deviceClass: 'energy', stateClass: 'total_increasing' },
  { objectId: 'energy_consumed', name: 'Energy consumed today', topic: 'power', template: '{{ value_json.energyToday.consumedWh | round(1) }}', unit: 'Wh', deviceClass: 'energy', stateClass: 'total_increasing' },
  { objectId: 'station_battery', name: 'Station battery', topic: 'power', template: '{{ value_json.batteryPct | round(0) }}', unit: '%', deviceClass: 'battery', stateClass: 'measurement' },
  {
    objectId: 'uplink_queue',
    name: 'Uplink queue',
    topic: 'uplink',
    template: '{{ value_json.queued.control.items + value_json.queued.hot.items + value_json.queued.bulk.items }}',
    unit: 'items',
    stateClass: 'measurement',
  },
  {
    objectId: 'uplink_queue_bytes',
    name: 'Uplink queue size',
    topic: 'uplink',
    template: '{{ value_json.queued.control.bytes + value_json.queued.hot.bytes + value_json.queued.bulk.bytes }}',
    unit: 'B',
    deviceClass: 'data_size',
    stateClass: 'measurement',
  },
];

export function discoveryMessages(mesh: Pick<Mesh, 'topics'>, prefix = DEFAULT_DISCOVERY_PREFIX, version?: string): DiscoveryMessage[] {
  const t = mesh.topics;
  const node = t.base.replace(/[^A-Za-z0-9_-]/g, '_');
  const device = { identifiers: [`canopy_${node}`], name: `Canopy (${t.base})`, manufacturer: 'Canopy', model: 'Solar drone swarm relay', ...(version && { sw_version: version }) };
  return SENSORS.map((s) => ({
    topic: `${prefix}/sensor/${node}/${s.objectId}/config`,
    config: {
      name: s.name,
      unique_id: `canopy_${node}_${s.objectId}`,
      state_topic: s.topic === 'power' ? t.power : t.uplink,
      value_template: s.template,
      ...(s.unit && { unit_of_measurement: s.unit }),
      ...(s.deviceClass && { device_class: s.deviceClass }),
      state_class: s.stateClass,
      availability_topic: t.bridgeState,
      payload_available: 'online',
      payload_not_available: 'offline',
      device,
    },
  }));
}

/** Publishes the discovery payloads retained (Home Assistant reads them whenever it connects). */
export async function publishDiscovery(mesh: Mesh, prefix = DEFAULT_DISCOVERY_PREFIX, version?: string): Promise<DiscoveryMessage[]> {
  const messages = discoveryMessages(mesh, prefix, version);
  for (const m of messages) await mesh.publish(m.topic, JSON.stringify(m.config), { retain: true, qos: 1 });
  return messages;
}
