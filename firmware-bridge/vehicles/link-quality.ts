/**
 * Packet loss from sequence numbers. MAVLink's seq is a uint8 per sending component that wraps
 * 255 → 0 (serialization.html). A forward gap of d means d − 1 frames lost. A frame up to
 * REORDER_WINDOW behind the newest is a late arrival: if it was counted lost, the loss is taken
 * back; if it was already seen it is a duplicate and ignored. A frame further behind than that is
 * taken as the sender restarting (its counter reset), not as ~200 lost frames.
 */
const REORDER_WINDOW = 32;
const RECENT = 100;

export class SequenceTracker {
  received = 0;
  lost = 0;
  duplicates = 0;
  restarts = 0;
  private last = -1;
  /** Bit i set: seq (last − i) was received. Covers the reorder window. */
  private seen = 0n;
  /** 1 = lost, 0 = received, for the last RECENT expected frames (ring). */
  private readonly window = new Uint8Array(RECENT);
  private windowAt = 0;
  private windowFill = 0;
  private windowLost = 0;

  private push(lostFlag: 0 | 1): void {
    if (this.windowFill === RECENT) this.windowLost -= this.window[this.windowAt]!;
    else this.windowFill++;
    this.window[this.windowAt] = lostFlag;
    this.windowLost += lostFlag;
    this.windowAt = (this.windowAt + 1) % RECENT;
  }

  /** Takes back the most recent "lost" mark within the window (a late frame arrived). */
  private unmarkLost(): void {
    for (let i = 1; i <= this.windowFill; i++) {
      const at = (this.windowAt - i + RECENT) % RECENT;
      if (this.window[at] === 1) {
        this.window[at] = 0;
        this.windowLost--;
        return;
      }
    }
  }

  observe(seq: number): void {
    if (this.last < 0) {
      this.last = seq;
      this.seen = 1n;
      this.received++;
      this.push(0);
      return;
    }
    const ahead = (seq - this.last + 256) & 0xff;
    if (ahead === 0) {
      this.duplicates++;
      return;
    }
    if (ahead < 256 - REORDER_WINDOW) {
      if (ahead > 128) {
        // Far behind and outside the reorder window: the sender restarted.
        this.restarts++;
        this.last = seq;
        this.seen = 1n;
        this.received++;
        this.push(0);
        return;
      }
      const gap = ahead - 1;
      this.lost += gap;
      for (let i = 0; i < Math.min(gap, RECENT); i++) this.push(1);
      this.push(0);
      this.received++;
      this.seen = ((this.seen << BigInt(ahead)) | 1n) & ((1n << 64n) - 1n);
      this.last = seq;
      return;
    }
    // Late arrival within the window.
    const behind = 256 - ahead;
    const bit = 1n << BigInt(behind);
    if (this.seen & bit) {
      this.duplicates++;
      return;
    }
    this.seen |= bit;
    this.received++;
    if (this.lost > 0) {
      this.lost--;
      this.unmarkLost();
    }
  }

  /** Loss over everything seen, in %. */
  get lossPct(): number {
    const expected = this.received + this.lost;
    return expected ? (100 * this.lost) / expected : 0;
  }

  /** Loss over the last 100 expected frames, in %. */
  get recentLossPct(): number {
    return this.windowFill ? (100 * this.windowLost) / this.windowFill : 0;
  }
}

/** SiK RSSI units to dBm: SiK firmware reports (dBm + 127) × 1.9 for the Si1000 (radio/radio.c). */
export function sikToDbm(value: number): number {
  return value / 1.9 - 127;
}

export interface RadioStatusReading {
  rssiDbm: number;
  remoteRssiDbm: number;
  noiseDbm: number;
  remoteNoiseDbm: number;
  /** Free space in the radio's transmit buffer, % (a flow-control hint). */
  txbufPct: number;
  rxErrors: number;
  fixed: number;
  atMs: number;
}
