/**
 * Bounds what logins cost. A password check is scrypt with N = 2^14, r = 8, p = 5: 16 MiB and
 * about 0.15 s of CPU each (users.ts), so unbounded parallel wrong passwords take gigabytes and starve
 * the valid logins. Here:
 * - at most `maxConcurrent` checks run at once; up to `queue` more wait in line, at most
 *   PENDING_PER_ADDRESS of them from one address; beyond that a login is refused at once;
 * - past FREE_FAILURES (a mistyped password or two), each failure from an address doubles how
 *   long that address is refused without a check (1 s, 2 s, 4 s … up to 5 minutes; a success
 *   clears it), as fail2ban and OpenSSH's PerSourcePenalties do;
 * - failures for a username do the same for that username (up to 30 s), except from an
 *   address that has logged in as that user before: a flood against the admin's name from a
 *   stranger does not lock out the admin's own dashboard.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';

export interface LoginLimiterOptions {
  maxConcurrent: number;
  queue: number;
  clock: Clock;
}

export type LoginAdmission = { ok: true; done: (succeeded: boolean) => void } | { ok: false; reason: 'busy' | 'backing-off'; detail: string };

/** Failures that cost nothing: a user mistyping a password is not an attack. */
const FREE_FAILURES = 3;
/** Logins one address may have checking or waiting at once. */
const PENDING_PER_ADDRESS = 2;
const ADDRESS_BACKOFF = { firstMs: 1000, maxMs: 5 * 60_000 };
const USER_BACKOFF = { firstMs: 1000, maxMs: 30_000 };
/** Penalties and known addresses kept at most (oldest dropped): a spray of addresses must not grow memory. */
const MAX_TRACKED = 10_000;

interface Penalty {
  failures: number;
  untilMs: number;
}

export class LoginLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Map<string, number>();
  private readonly byAddress = new Map<string, Penalty>();
  private readonly byUser = new Map<string, Penalty>();
  /** user → addresses it has logged in from. */
  private readonly known = new Map<string, Set<string>>();
  refused = { busy: 0, backingOff: 0 };

  constructor(private readonly o: LoginLimiterOptions) {}

  /**
   * Waits for a turn to check a password for `username` from `address`, or says why not; the
   * caller reports the outcome with done().
   */
  async admit(address: string, username: string): Promise<LoginAdmission> {
    const now = this.o.clock.now();
    const penalty = this.addressPenalty(address);
    if (penalty) return this.backingOff(penalty);
    const u = this.byUser.get(username);
    if (u && now < u.untilMs && !this.known.get(username)?.has(address)) {
      return this.backingOff(`${u.failures} failed logins for "${username}"; next try in ${Math.ceil((u.untilMs - now) / 1000)} s`);
    }
    const mine = this.pending.get(address) ?? 0;
    if (mine >= PENDING_PER_ADDRESS || (this.running >= this.o.maxConcurrent && this.waiting.length >= this.o.queue)) {
      this.refused.busy++;
      return { ok: false, reason: 'busy', detail: mine >= PENDING_PER_ADDRESS ? `${mine} logins from ${address} already waiting` : `${this.waiting.length} logins waiting` };
    }
    this.pending.set(address, mine + 1);
    if (this.running >= this.o.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    let finished = false;
    return {
      ok: true,
      done: (succeeded) => {
        if (finished) return;
        finished = true;
        this.running--;
        const left = (this.pending.get(address) ?? 1) - 1;
        if (left > 0) this.pending.set(address, left);
        else this.pending.delete(address);
        this.waiting.shift()?.();
        this.outcome(address, username, succeeded);
      },
    };
  }

  /**
   * Why `address` is refused logins now, or undefined. The mesh asks this at accept too: an
   * address backing off gets no connection at all (as fail2ban bans the address, not the login),
   * so a flood costs it a closed socket, not a broker client per attempt.
   */
  addressPenalty(address: string): string | undefined {
    const now = this.o.clock.now();
    const a = this.byAddress.get(address);
    if (a && now < a.untilMs) return `${a.failures} failed logins from ${address}; next try in ${Math.ceil((a.untilMs - now) / 1000)} s`;
    return undefined;
  }

  private backingOff(detail: string): LoginAdmission {
    this.refused.backingOff++;
    return { ok: false, reason: 'backing-off', detail };
  }

  private outcome(address: string, username: string, succeeded: boolean): void {
    if (succeeded) {
      this.byAddress.delete(address);
      this.byUser.delete(username);
      let set = this.known.get(username);
      if (!set) remember(this.known, username, (set = new Set()));
      if (set.size < 64) set.add(address);
      return;
    }
    const now = this.o.clock.now();
    penalise(this.byAddress, address, now, ADDRESS_BACKOFF);
    penalise(this.byUser, username, now, USER_BACKOFF);
  }
}

function penalise(map: Map<string, Penalty>, key: string, now: number, b: { firstMs: number; maxMs: number }): void {
  const failures = (map.get(key)?.failures ?? 0) + 1;
  map.delete(key);
  const penalised = failures - FREE_FAILURES;
  remember(map, key, { failures, untilMs: penalised > 0 ? now + Math.min(b.maxMs, b.firstMs * 2 ** (penalised - 1)) : now });
}

/** Sets a key as the newest, dropping the oldest past MAX_TRACKED (a Map iterates in insertion order). */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MAX_TRACKED) map.delete(map.keys().next().value!);
}
