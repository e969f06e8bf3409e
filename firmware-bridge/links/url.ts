import { MavlinkError } from '../errors.ts';

/**
 * Link URLs (MQTT.js / MAVSDK connection-URL habit):
 *   serial:/dev/ttyUSB0?baud=57600     serial port (default 57600 baud)
 *   udpin://0.0.0.0:14550              UDP, listen; replies go to every peer heard from
 *   udpin://0.0.0.0:14550?peer=10.0.0.5:14551   …taking datagrams from that peer only
 *   udpout://127.0.0.1:14550           UDP, send to a fixed address
 *   tcp://127.0.0.1:5760               TCP client (reconnects)
 *   tcpin://0.0.0.0:5760               TCP server (many clients)
 *   memory:<name>                      in-memory pair end (tests, simulator)
 */
export type LinkSpec =
  | { kind: 'serial'; path: string; baud: number }
  | { kind: 'udpin'; host: string; port: number; peer?: { host: string; port: number } }
  | { kind: 'udpout' | 'tcp' | 'tcpin'; host: string; port: number }
  | { kind: 'memory'; name: string };

const SCHEMES = ['serial', 'udpin', 'udpout', 'tcp', 'tcpin', 'memory'] as const;
const STANDARD_BAUDS = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 1500000];

function bad(url: string, part: string, why: string): MavlinkError {
  return new MavlinkError('CANOPY_ERR_LINK_URL', `bad link URL "${url}": ${part} ${why}. Examples: serial:/dev/ttyUSB0?baud=57600, udpin://0.0.0.0:14550, udpout://127.0.0.1:14550, tcp://127.0.0.1:5760, tcpin://0.0.0.0:5760`);
}

export function parseLinkUrl(url: string): LinkSpec {
  if (typeof url !== 'string' || url.trim() === '') throw bad(String(url), 'the URL', 'is empty');
  const m = /^([a-z]+):(.*)$/i.exec(url.trim());
  if (!m) throw bad(url, 'the scheme', `is missing (expected one of ${SCHEMES.join(', ')})`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'serial': {
      const [pathPart, query = ''] = rest.replace(/^\/\/(?=\/)/, '').split('?', 2) as [string, string?];
      const path = pathPart.trim();
      if (!path) throw bad(url, 'the device path', 'is empty');
      const params = new URLSearchParams(query);
      for (const key of params.keys()) {
        if (key !== 'baud') throw bad(url, `the query parameter "${key}"`, 'is not known (only "baud")');
      }
      const baudText = params.get('baud') ?? '57600';
      const baud = Number(baudText);
      if (!/^\d+$/.test(baudText) || !STANDARD_BAUDS.includes(baud)) {
        throw bad(url, `the baud rate "${baudText}"`, `is not one of ${STANDARD_BAUDS.join(', ')}`);
      }
      return { kind: 'serial', path, baud };
    }
    case 'udpin':
    case 'udpout':
    case 'tcp':
    case 'tcpin': {
      if (!rest.startsWith('//')) throw bad(url, 'the address', `must follow "${scheme}://"`);
      const [addressPart, query] = rest.slice(2).split('?', 2) as [string, string?];
      const { host, port } = hostAndPort(url, addressPart.replace(/\/$/, ''), scheme === 'udpout' || scheme === 'tcp');
      if (query === undefined) return { kind: scheme, host, port };
      const params = new URLSearchParams(query);
      for (const key of params.keys()) {
        if (scheme !== 'udpin' || key !== 'peer') throw bad(url, `the query parameter "${key}"`, scheme === 'udpin' ? 'is not known (only "peer")' : 'is not known');
      }
      // The peer a pinned udpin link takes datagrams from (and answers).
      const peer = hostAndPort(url, params.get('peer') ?? '', true);
      return { kind: 'udpin', host, port, peer };
    }
    case 'memory': {
      const name = rest.replace(/^\/\//, '');
      if (!name) throw bad(url, 'the memory link name', 'is empty');
      return { kind: 'memory', name };
    }
    default:
      throw bad(url, `the scheme "${scheme}"`, `is not supported (use one of ${SCHEMES.join(', ')})`);
  }
}

function hostAndPort(url: string, hostPort: string, portRequired: boolean): { host: string; port: number } {
  const hm = /^(\[[0-9a-f:.]+\]|[^:/?#\s]+):(\d+)$/i.exec(hostPort);
  if (!hm) throw bad(url, `the address "${hostPort}"`, 'is not host:port');
  const host = hm[1]!.replace(/^\[|\]$/g, '');
  const port = Number(hm[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || (portRequired && port === 0)) {
    throw bad(url, `the port "${hm[2]}"`, 'is out of range (1-65535)');
  }
  return { host, port };
}
