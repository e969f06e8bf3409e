import { createSocket, type Socket } from 'node:dgram';
import { CanopyError } from '../errors.ts';
import { BaseLink } from './link.ts';

function family(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

function bindError(err: NodeJS.ErrnoException, url: string, port: number): Error {
  if (err.code === 'EADDRINUSE') {
    return new CanopyError('CANOPY_ERR_PORT_IN_USE', `UDP port ${port} of ${url} is already in use (another Canopy, MAVProxy or QGroundControl?); pick another port in the URL`, { cause: err });
  }
  if (err.code === 'EACCES') return new CanopyError('CANOPY_ERR_PORT_IN_USE', `no permission to bind UDP port ${port} of ${url} (ports below 1024 need root)`, { cause: err });
  return err;
}

/**
 * `udpin://host:port`: listens; every address a datagram came from becomes a peer, and writes go
 * to all of them (as mavlink-router's UDP server endpoints do).
 */
export class UdpInLink extends BaseLink {
  private socket: Socket | undefined;
  private readonly peers = new Map<string, { address: string; port: number }>();

  constructor(
    url: string,
    private readonly host: string,
    private readonly port: number,
  ) {
    super(url);
  }

  /** The bound port (useful with port 0). */
  get boundPort(): number | undefined {
    return this.socket?.address().port;
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = createSocket({ type: family(this.host), reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(bindError(err, this.url, this.port)));
      socket.bind(this.port, this.host, () => resolve());
    });
    socket.on('error', (err) => this.emit('error', err));
    socket.on('message', (msg, rinfo) => {
      const peer = `${rinfo.address}:${rinfo.port}`;
      if (!this.peers.has(peer)) this.peers.set(peer, { address: rinfo.address, port: rinfo.port });
      this.received(msg, peer);
    });
    this.socket = socket;
    this.setUp();
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    this.peers.clear();
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    if (!this.socket || this.peers.size === 0) {
      this.stats.dropsOut++;
      return;
    }
    for (const p of this.peers.values()) {
      this.socket.send(data, p.port, p.address);
      this.sent(data.length);
    }
  }
}

/** `udpout://host:port`: sends to one address from an ephemeral port and hears its replies. */
export class UdpOutLink extends BaseLink {
  private socket: Socket | undefined;

  constructor(
    url: string,
    private readonly host: string,
    private readonly port: number,
  ) {
    super(url);
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = createSocket(family(this.host));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => resolve());
    });
    socket.on('error', (err) => this.emit('error', err));
    socket.on('message', (msg, rinfo) => this.received(msg, `${rinfo.address}:${rinfo.port}`));
    this.socket = socket;
    this.setUp();
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    if (!this.socket) {
      this.stats.dropsOut++;
      return;
    }
    this.socket.send(data, this.port, this.host);
    this.sent(data.length);
  }
}
