/**
 * What a connection may cost the broker before and after it has logged in. aedes has no maximum
 * packet size: its parser (mqtt-packet) buffers a packet until the remaining length its fixed
 * header declares has arrived, so one CONNECT declaring 256 MB makes the process hold 256 MB.
 * The guard reads each packet's fixed header as the bytes pass (MQTT 3.1.1 §2.2: a type byte,
 * then the remaining length in 1–4 bytes of 7 bits, §2.2.3) and closes the connection the moment
 * a header declares more than the connection may send, so those bytes are never buffered:
 * - before login: the first packet must be CONNECT (§3.1 "the first packet sent from the Client to
 *   the Server MUST be a CONNECT packet"), packets of at most `preLoginPacketBytes`, and at most
 *   twice that in all until the login is decided;
 * - after: packets of at most `maxPacketBytes` (the store's chunks are 256 KiB and sealed).
 * And how many connections there may be: in total and from one address.
 */
import type { Duplex } from 'node:stream';

export interface MeshLimits {
  /** Connections at once over every listener. Default 2000. */
  maxConnections: number;
  /** Connections at once from one address. Default 200. */
  maxConnectionsPerAddress: number;
  /**
   * Connections from one address whose login is not decided yet. Default 16. Beyond, a new one is
   * closed at accept, before aedes makes a client of it: a flood of logins from one address costs
   * sockets, not parsers and sessions.
   */
  maxPendingPerAddress: number;
  /** Largest packet of a logged-in client, bytes. Default 1 MiB. */
  maxPacketBytes: number;
  /** Largest packet before the login is decided (the CONNECT), bytes. Default 8 KiB. */
  preLoginPacketBytes: number;
  /** scrypt checks at once, each in a thread of its own holding 16 MiB (N = 2^14, r = 8). Default 1. */
  maxConcurrentLogins: number;
  /** Logins waiting for a check; beyond, a login is refused at once (CONNACK 3, server unavailable). Default 16. */
  loginQueue: number;
}

export const DEFAULT_MESH_LIMITS: MeshLimits = {
  maxConnections: 2000,
  maxConnectionsPerAddress: 200,
  maxPendingPerAddress: 16,
  maxPacketBytes: 1024 * 1024,
  preLoginPacketBytes: 8 * 1024,
  maxConcurrentLogins: 1,
  loginQueue: 16,
};

const CONNECT = 1;

export type GuardRefusal = { reason: 'not-connect' | 'too-large' | 'too-much-before-login' | 'malformed-length'; detail: string };

/** Follows packet boundaries through a byte stream, checking each fixed header (see the module comment). */
export class PacketSizeGuard {
  private loggedIn = false;
  private packets = 0;
  private received = 0;
  /** Header byte seen, length bytes being read. */
  private lengthBytes = -1;
  private length = 0;
  private multiplier = 1;
  /** Body bytes still to pass before the next header. */
  private body = 0;

  constructor(private readonly limits: Pick<MeshLimits, 'maxPacketBytes' | 'preLoginPacketBytes'>) {}

  /** The login succeeded: from now on packets may be up to maxPacketBytes. */
  loggedInNow(): void {
    this.loggedIn = true;
  }

  /** Checks the next bytes; a refusal means the connection must be closed before they go on. */
  check(chunk: Uint8Array): GuardRefusal | undefined {
    this.received += chunk.length;
    const limit = this.loggedIn ? this.limits.maxPacketBytes : this.limits.preLoginPacketBytes;
    if (!this.loggedIn && this.received > 2 * this.limits.preLoginPacketBytes) {
      return { reason: 'too-much-before-login', detail: `more than ${2 * this.limits.preLoginPacketBytes} bytes before the login was decided` };
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.body > 0) {
        const skip = Math.min(this.body, chunk.length - i);
        this.body -= skip;
        i += skip;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.lengthBytes < 0) {
        // A fixed header's first byte: the packet type in the high nibble.
        if (this.packets === 0 && byte >> 4 !== CONNECT) return { reason: 'not-connect', detail: `first packet of type ${byte >> 4}, not CONNECT` };
        this.packets++;
        this.lengthBytes = 0;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      // Remaining length: 7 bits a byte, least significant first, at most 4 bytes (§2.2.3).
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (this.length > limit) return { reason: 'too-large', detail: `a packet of ${this.length} bytes declared; the limit is ${limit}${this.loggedIn ? '' : ' before login'}` };
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return { reason: 'malformed-length', detail: 'a remaining length longer than 4 bytes' };
        continue;
      }
      this.body = this.length;
      this.lengthBytes = -1;
    }
    return undefined;
  }
}

/**
 * Puts the guard in front of aedes' parser on the socket itself. aedes reads a connection only
 * with `conn.read(null)` on 'readable' (aedes lib/client.js, nextBatch), so wrapping that one
 * method checks every byte before mqtt-packet can buffer it, while writes go straight to the
 * socket: a wrapping Duplex would add a stream hop to every packet of every subscriber (it cost
 * half the fan-out rate). A refusal destroys the socket, calls `refused` and hands aedes nothing.
 */
export function guardSocket(socket: Duplex, guard: PacketSizeGuard, refused: (r: GuardRefusal) => void): void {
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    const chunk: unknown = read(size);
    if (chunk === null || socket.destroyed) return socket.destroyed ? null : chunk;
    const r = guard.check(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    if (!r) return chunk;
    refused(r);
    socket.destroy();
    return null;
  };
}

/**
 * Drops writes to a socket that can no longer be written: destroyed, or ended because its peer
 * sent FIN (net's allowHalfOpen is off). aedes goes on writing to a client until its
 * unsubscriptions have completed (aedes lib/client.js close → finish), and mqtt-packet writes a
 * PUBLISH in about five pieces: each write to such a socket makes node build an
 * ERR_STREAM_DESTROYED or EPIPE ("write after end") error with its stack trace. When a crowd leaves, that was thousands of errors a
 * millisecond apart: most of the event loop's stall (measured with `bench mesh`'s profile). A
 * dropped write reports success: there is no one left to send it to.
 */
export function dropWritesAfterClose(socket: Duplex): void {
  let inner = socket.write;
  let open = true;
  socket.once('end', () => (open = false));
  const wrapper = ((...args: unknown[]) => {
    if (open && socket.writable) return (inner as (...a: unknown[]) => boolean).apply(socket, args);
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (cb) queueMicrotask(cb);
    return true;
  }) as Duplex['write'];
  // node's net replaces a socket's write with writeAfterFIN when the peer's FIN arrives
  // (lib/net.js onReadableStreamEnd); the wrapper stays in front of whatever it installs.
  Object.defineProperty(socket, 'write', {
    configurable: true,
    get: () => wrapper,
    set: (w: Duplex['write']) => {
      inner = w;
    },
  });
}

/** A connection's place in the counts: its login decided (no longer pending), or gone. */
export interface ConnectionPlace {
  loggedIn(): void;
  release(): void;
}

/** Open connections by address (and those of them not logged in yet), against the limits. */
export class ConnectionCounter {
  private total = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly pendingByAddress = new Map<string, number>();

  constructor(private readonly limits: Pick<MeshLimits, 'maxConnections' | 'maxConnectionsPerAddress' | 'maxPendingPerAddress'>) {}

  get open(): number {
    return this.total;
  }

  /** Takes a place for a connection from `address`, pending its login; or says why it may not have one. */
  admit(address: string): ConnectionPlace | { refused: string } {
    const n = this.byAddress.get(address) ?? 0;
    const pending = this.pendingByAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxConnections) return { refused: `${this.total} connections open (mesh.limits.maxConnections)` };
    if (n >= this.limits.maxConnectionsPerAddress) return { refused: `${n} connections open from ${address} (mesh.limits.maxConnectionsPerAddress)` };
    if (pending >= this.limits.maxPendingPerAddress) return { refused: `${pending} logins pending from ${address} (mesh.limits.maxPendingPerAddress)` };
    this.total++;
    bump(this.byAddress, address, 1);
    bump(this.pendingByAddress, address, 1);
    let isPending = true;
    let released = false;
    const decided = () => {
      if (!isPending) return;
      isPending = false;
      bump(this.pendingByAddress, address, -1);
    };
    return {
      loggedIn: decided,
      release: () => {
        if (released) return;
        released = true;
        decided();
        this.total--;
        bump(this.byAddress, address, -1);
      },
    };
  }
}

/** Adds `by` to a count kept in a map, deleting it at 0. */
function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
