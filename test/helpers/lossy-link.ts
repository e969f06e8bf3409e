import { MemoryLink } from '../../firmware-bridge/links/memory.ts';
import type { Random } from '../../firmware-bridge/random.ts';

/** A memory link end that loses each write (one frame) with probability `lossRate`. */
export class LossyMemoryLink extends MemoryLink {
  lost = 0;
  constructor(name: string, private readonly random: Random, private readonly lossRate: number) {
    super(name);
  }
  override write(data: Buffer): void {
    if (this.random() < this.lossRate) {
      this.lost++;
      return;
    }
    super.write(data);
  }
}

/** Two lossy ends joined like createMemoryPair: loss in both directions. */
export function createLossyPair(random: Random, lossRate: number): [LossyMemoryLink, LossyMemoryLink] {
  const a = new LossyMemoryLink('lossy-a', random, lossRate);
  const b = new LossyMemoryLink('lossy-b', random, lossRate);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
