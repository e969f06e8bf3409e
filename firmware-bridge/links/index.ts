import { SystemClock, type Clock } from '../clock.ts';
import { MavlinkError } from '../errors.ts';
import type { Link } from './link.ts';
import { SerialLink } from './serial.ts';
import { TcpClientLink, TcpServerLink } from './tcp.ts';
import { UdpInLink, UdpOutLink } from './udp.ts';
import { parseLinkUrl } from './url.ts';

export interface CreateLinkOptions {
  clock?: Clock;
  /** Serial only: keep retrying while the device is absent instead of failing start(). */
  waitForDevice?: boolean;
}

/** Builds the link a URL names (see url.ts for the schemes). The link is not started. */
export function createLink(url: string, opts: CreateLinkOptions = {}): Link {
  const spec = parseLinkUrl(url);
  const clock = opts.clock ?? new SystemClock();
  switch (spec.kind) {
    case 'serial':
      return new SerialLink(url, spec.path, spec.baud, clock, { waitForDevice: opts.waitForDevice });
    case 'udpin':
      return new UdpInLink(url, spec.host, spec.port, spec.peer);
    case 'udpout':
      return new UdpOutLink(url, spec.host, spec.port);
    case 'tcp':
      return new TcpClientLink(url, spec.host, spec.port, clock);
    case 'tcpin':
      return new TcpServerLink(url, spec.host, spec.port);
    case 'memory':
      throw new MavlinkError('CANOPY_ERR_LINK_URL', `memory links come in pairs: build them with createMemoryPair(), not from the URL "${url}"`);
  }
}

export * from './link.ts';
export * from './memory.ts';
export * from './serial.ts';
export * from './tcp.ts';
export * from './udp.ts';
export * from './url.ts';
