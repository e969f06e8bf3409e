import { EventEmitter } from 'node:events';

/**
 * A byte transport to one or more MAVLink peers (the adapter boundary, zigbee-herdsman style).
 * Framing happens above it (see channel.ts). Links that accept several peers (tcpin, udpin) tag
 * each chunk with a peer id so each peer gets its own framer; `write` goes to every peer.
 */
export interface LinkEvents {
  /** Bytes from a peer. `peer` is stable for the life of that peer's connection. */
  data: [chunk: Buffer, peer: string];
  /** The transport is open (for a client: connected; for a serial port: device open). */
  up: [];
  /** The transport closed or failed; client/serial links retry with backoff by themselves. */
  down: [reason: string];
  /** A peer disconnected (tcpin clients, udp peers that timed out). */
  'peer-gone': [peer: string];
  /** A problem worth reporting that does not stop the link (e.g. a reconnect attempt failed). */
  error: [err: Error];
  /** A UDP server link heard from a new peer address after its first (a GCS that moved, or a stranger). */
  'peer-new': [peer: string, known: string[]];
}

export interface LinkStats {
  bytesIn: number;
  bytesOut: number;
  chunksIn: number;
  chunksOut: number;
  /** Writes dropped because the link was down or the peer unknown. */
  dropsOut: number;
  /** Datagrams dropped because they came from another address than the link's peer (UDP). */
  foreignIn: number;
  reconnects: number;
}

export interface Link extends EventEmitter<LinkEvents> {
  /** The URL the link was built from (memory links: `memory:<name>`). */
  readonly url: string;
  readonly isUp: boolean;
  readonly stats: LinkStats;
  /** Opens the transport. Rejects with a MavlinkError a user can act on (port in use, no device). */
  start(): Promise<void>;
  /** Closes the transport and cancels reconnects. Idempotent. */
  stop(): Promise<void>;
  /** Sends bytes to every connected peer. Never throws; counts a drop when nobody can receive. */
  write(data: Buffer): void;
}

export function emptyStats(): LinkStats {
  return { bytesIn: 0, bytesOut: 0, chunksIn: 0, chunksOut: 0, dropsOut: 0, foreignIn: 0, reconnects: 0 };
}

/** Shared bookkeeping for all link kinds. */
export abstract class BaseLink extends EventEmitter<LinkEvents> implements Link {
  readonly stats: LinkStats = emptyStats();
  protected up = false;

  constructor(readonly url: string) {
    super();
    // A link reports problems as events; an unhandled 'error' event must not crash the process.
    this.on('error', () => {});
  }

  get isUp(): boolean {
    return this.up;
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
  abstract write(data: Buffer): void;

  protected received(chunk: Buffer, peer: string): void {
    this.stats.bytesIn += chunk.length;
    this.stats.chunksIn++;
    this.emit('data', chunk, peer);
  }

  protected sent(bytes: number): void {
    this.stats.bytesOut += bytes;
    this.stats.chunksOut++;
  }

  protected setUp(): void {
    if (this.up) return;
    this.up = true;
    this.emit('up');
  }

  protected setDown(reason: string): void {
    if (!this.up) return;
    this.up = false;
    this.emit('down', reason);
  }
}

/** Reconnect delays: 250 ms doubling to a cap (default 4 s), reset after a successful open. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly firstMs = 250,
    private readonly capMs = 4000,
  ) {}
  next(): number {
    const d = Math.min(this.capMs, this.firstMs * 2 ** this.attempt);
    this.attempt++;
    return d;
  }
  reset(): void {
    this.attempt = 0;
  }
}
