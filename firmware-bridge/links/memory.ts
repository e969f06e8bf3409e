import { BaseLink } from './link.ts';

/**
 * One end of an in-memory link pair. Delivery is asynchronous (next macrotask), like a real
 * transport, and in order. Used by the simulator and tests.
 */
export class MemoryLink extends BaseLink {
  peer?: MemoryLink;
  private running = false;

  constructor(readonly name: string) {
    super(`memory:${name}`);
  }

  async start(): Promise<void> {
    this.running = true;
    this.setUp();
    if (this.peer?.running) this.peer.setUp();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    const peer = this.peer;
    if (!this.running || !peer || !peer.running) {
      this.stats.dropsOut++;
      return;
    }
    this.sent(data.length);
    const copy = Buffer.from(data);
    setImmediate(() => {
      if (peer.running) peer.received(copy, this.name);
    });
  }
}

/** Two connected in-memory links: bytes written to one arrive at the other. */
export function createMemoryPair(nameA = 'a', nameB = 'b'): [MemoryLink, MemoryLink] {
  const a = new MemoryLink(nameA);
  const b = new MemoryLink(nameB);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
