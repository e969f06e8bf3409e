/**
 * The mesh's listeners as people name them: what each carries, the `canopy.yaml` field that sets
 * its port (config.ts `mesh:`) and the `canopy start` flag. A port clash (mesh.ts) and `canopy
 * doctor` name them from here.
 */
export interface ListenerName {
  what: string;
  field: string;
  flag?: string;
}

export const MESH_LISTENERS = {
  tcp: { what: 'MQTT', field: 'mesh.mqtt.port', flag: '--mqtt-port' },
  tls: { what: 'MQTT over TLS', field: 'mesh.tls.port' },
  ws: { what: 'MQTT over WebSocket', field: 'mesh.websocket.port', flag: '--ws-port' },
} as const satisfies Record<string, ListenerName>;
