/**
 * When the uplink may run: a contact plan (the windows in which the satellite is reachable, from
 * config or the simulator) and, per window, a byte budget shared out by priority class.
 * Whether the power budget pays for the dish is asked separately (UplinkGrant, see relay.ts).
 */
import { CanopyError } from '../../common/errors.ts';
import { PRIORITY_CLASSES, type PerClass, type PriorityClass } from '../../common/topics.ts';

export interface ContactWindow {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
  /** Bytes this window may carry (e.g. link rate × duration × margin); unlimited when absent. */
  budgetBytes?: number;
}

/** The latest time a JavaScript Date can hold: the end of an "always" window. */
export const FOREVER = 8.64e15;

export class ContactPlan {
  private readonly windows: readonly ContactWindow[];

  /** `'always'`: one window without end (a wired uplink, or tests). */
  constructor(windows: readonly ContactWindow[] | 'always') {
    if (windows === 'always') {
      this.windows = [{ start: 0, end: FOREVER }];
      return;
    }
    const sorted = [...windows].sort((a, b) => a.start - b.start);
    sorted.forEach((w, i) => {
      if (!(Number.isFinite(w.start) && Number.isFinite(w.end) && w.start < w.end)) {
        throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `contact window ${i} (${w.start}..${w.end}): start and end must be epoch ms with start < end`);
      }
      if (w.budgetBytes !== undefined && !(w.budgetBytes >= 0)) {
        throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `contact window ${i}: budgetBytes must be ≥ 0, got ${w.budgetBytes}`);
      }
      const prev = sorted[i - 1];
      if (prev && prev.end > w.start) {
        throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `contact windows overlap: ${prev.start}..${prev.end} and ${w.start}..${w.end}`);
      }
    });
    this.windows = sorted;
  }

  /** The window open at `now`, if any. */
  current(now: number): ContactWindow | undefined {
    return this.windows.find((w) => w.start <= now && now < w.end);
  }

  /** The first window that opens after `now`. */
  next(now: number): ContactWindow | undefined {
    return this.windows.find((w) => w.start > now);
  }

  /** The windows open at some time in [from, to), at most `max` of them (the dashboard's timeline). */
  between(from: number, to: number, max = 128): ContactWindow[] {
    return this.windows.filter((w) => w.end > from && w.start < to).slice(0, max);
  }
}

/**
 * The bytes one window may still carry, by priority: classes are served control first, and each
 * may use at most `share` of the window's budget (1 = all of it), so a lower class can be kept
 * from eating room that a higher one may still need in the same window.
 */
export class WindowBudget {
  private readonly used = { total: 0, ...Object.fromEntries(PRIORITY_CLASSES.map((c) => [c, 0])) } as { total: number } & PerClass<number>;

  constructor(
    readonly window: ContactWindow,
    private readonly shares: PerClass<number>,
  ) {}

  /** Whether `bytes` more of class `cls` fit. */
  allows(cls: PriorityClass, bytes: number): boolean {
    const budget = this.window.budgetBytes;
    if (budget === undefined) return true;
    return this.used.total + bytes <= budget && this.used[cls] + bytes <= this.shares[cls] * budget;
  }

  spend(cls: PriorityClass, bytes: number): void {
    this.used.total += bytes;
    this.used[cls] += bytes;
  }

  /** Bytes sent in the window so far. */
  get usedBytes(): number {
    return this.used.total;
  }

  /** Bytes left in the window (Infinity without a budget). */
  get remaining(): number {
    return this.window.budgetBytes === undefined ? Infinity : this.window.budgetBytes - this.used.total;
  }
}
