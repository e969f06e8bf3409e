/**
 * Command protocol (mavlink.io/en/services/command.html): COMMAND_LONG / COMMAND_INT answered by
 * COMMAND_ACK matched on (sysid, compid, command).
 *  - No ACK within the timeout: resend, COMMAND_LONG's `confirmation` counting the resends.
 *  - MAV_RESULT_IN_PROGRESS: keep waiting (progress reported), no resends.
 *  - MAV_RESULT_TEMPORARILY_REJECTED: retry after `rejectedRetryMs`, within the retry budget.
 *  - DENIED / FAILED / UNSUPPORTED / CANCELLED: final.
 *  - A refusal's reason comes after its COMMAND_ACK, in STATUSTEXTs (ArduCopter: "Arm: …", one
 *    text per failed check; PX4: "Arming denied: …" in two chunks; both recorded in SITL): the
 *    texts at WARNING or worse that follow a refusal are collected until they stop (QUIET_MS
 *    after the last whole one) or `explainMs` has passed, and returned as its `explanation`.
 * Defaults follow MAVSDK's MavlinkCommandSender (timeout 1.5 s ("DEFAULT_TIMEOUT_S" 0.5 s is for
 * wired links; a 57,600-baud radio shared by a swarm needs more), 3 retries).
 * One command per (target, command id) is in flight at a time, across every sender to that target
 * (the node hands out one port per target): a second one queues behind it, since COMMAND_ACK
 * carries no sequence and the two ACKs could not be told apart.
 */
import { common } from 'mavlink-mappings';
import type { MessagePort } from '../../node.ts';
import { StatusTextAssembler } from '../statustext.ts';
import { waitFor } from '../waiter.ts';

export type CommandFailure = 'timeout' | 'denied' | 'failed' | 'unsupported' | 'temporarily-rejected' | 'cancelled';

export type CommandResult =
  | { ok: true; result: common.MavResult; attempts: number }
  | { ok: false; reason: CommandFailure; result?: common.MavResult; attempts: number; detail: string; explanation?: string };

export interface CommandOptions {
  timeoutMs?: number;
  retries?: number;
  /** How long to wait after TEMPORARILY_REJECTED before trying again. */
  rejectedRetryMs?: number;
  /** How long IN_PROGRESS may go without a further ACK before we give up. */
  inProgressTimeoutMs?: number;
  /** How long after a refusal its reason may take to arrive in STATUSTEXTs (0: do not wait for one). */
  explainMs?: number;
  onProgress?: (percent: number) => void;
}

export const COMMAND_DEFAULTS = { timeoutMs: 1500, retries: 3, rejectedRetryMs: 1000, inProgressTimeoutMs: 10_000, explainMs: 1000 } as const;

/** The reason's texts are taken as complete this long after the last whole one (an autopilot sends them back to back). */
const QUIET_MS = 250;

export interface CommandParams {
  command: common.MavCmd;
  params?: [number?, number?, number?, number?, number?, number?, number?];
}

export interface CommandIntParams {
  command: common.MavCmd;
  frame: common.MavFrame;
  params?: [number?, number?, number?, number?];
  /** Latitude / longitude in degrees, altitude in metres (sent as x, y int 1e7 and z). */
  x: number;
  y: number;
  z: number;
}

const FINAL: Partial<Record<common.MavResult, CommandFailure>> = {
  [common.MavResult.DENIED]: 'denied',
  [common.MavResult.FAILED]: 'failed',
  [common.MavResult.UNSUPPORTED]: 'unsupported',
  [common.MavResult.CANCELLED]: 'cancelled',
};

/** Tail of the queue per target port and command id, so identical commands to one target never overlap. */
const IN_FLIGHT = new WeakMap<MessagePort, Map<number, Promise<unknown>>>();

export class CommandSender {
  private readonly inFlight: Map<number, Promise<unknown>>;
  denials = 0;

  constructor(
    private readonly port: MessagePort,
    private readonly defaults: CommandOptions = {},
  ) {
    let inFlight = IN_FLIGHT.get(port);
    if (!inFlight) IN_FLIGHT.set(port, (inFlight = new Map()));
    this.inFlight = inFlight;
  }

  /** Sends COMMAND_LONG. */
  sendLong(cmd: CommandParams, opts: CommandOptions = {}): Promise<CommandResult> {
    // Spec: confirmation is 0 on the first transmission and increments on each resend.
    return this.serialise(cmd.command, () => this.exchange(cmd.command, (attempt) => buildCommandLong(this.port.target, cmd, attempt), opts));
  }

  /** Sends COMMAND_INT (positions as 1e7 integers: no float rounding of coordinates). */
  sendInt(cmd: CommandIntParams, opts: CommandOptions = {}): Promise<CommandResult> {
    return this.serialise(cmd.command, () =>
      this.exchange(cmd.command, () => buildCommandInt(this.port.target, cmd), opts),
    );
  }

  private serialise<T>(command: number, run: () => Promise<T>): Promise<T> {
    const previous = this.inFlight.get(command) ?? Promise.resolve();
    const next = previous.then(run, run);
    this.inFlight.set(command, next);
    void next.finally(() => {
      if (this.inFlight.get(command) === next) this.inFlight.delete(command);
    });
    return next;
  }

  private async exchange(command: number, build: (attempt: number) => common.CommandLong | common.CommandInt, opts: CommandOptions): Promise<CommandResult> {
    const o = { ...COMMAND_DEFAULTS, ...this.defaults, ...opts };
    const reasons = new RefusalTexts(this.port);
    try {
      return await this.attempts(command, build, o, reasons);
    } finally {
      reasons.stop();
    }
  }

  private async attempts(command: number, build: (attempt: number) => common.CommandLong | common.CommandInt, o: Required<Omit<CommandOptions, 'onProgress'>> & CommandOptions, reasons: RefusalTexts): Promise<CommandResult> {
    let attempt = 0;
    for (;;) {
      const wait = waitFor(this.port, common.CommandAck, (ack) => ack.command === command, o.timeoutMs);
      this.port.send(build(attempt));
      attempt++;
      let outcome = await wait.result;
      // IN_PROGRESS: keep listening for the final ACK without resending.
      while (outcome.ok && outcome.message.result === common.MavResult.IN_PROGRESS) {
        o.onProgress?.(outcome.message.progress);
        outcome = await waitFor(this.port, common.CommandAck, (ack) => ack.command === command, o.inProgressTimeoutMs).result;
      }
      if (outcome.ok) {
        const result = outcome.message.result;
        if (result === common.MavResult.ACCEPTED) return { ok: true, result, attempts: attempt };
        reasons.refused();
        const final = FINAL[result];
        if (final) {
          this.denials++;
          return explained({ ok: false, reason: final, result, attempts: attempt, detail: `${common.MavCmd[command] ?? command} refused: ${common.MavResult[result] ?? result}` }, await reasons.collect(o.explainMs));
        }
        // TEMPORARILY_REJECTED (or an unknown result): try again after a pause if budget remains.
        if (attempt > o.retries) {
          return explained({ ok: false, reason: 'temporarily-rejected', result, attempts: attempt, detail: `${common.MavCmd[command] ?? command} still rejected after ${attempt} attempts` }, await reasons.collect(o.explainMs));
        }
        await sleep(this.port, o.rejectedRetryMs);
        continue;
      }
      if (outcome.reason === 'cancelled' || attempt > o.retries) {
        return { ok: false, reason: outcome.reason, attempts: attempt, detail: `no COMMAND_ACK for ${common.MavCmd[command] ?? command} after ${attempt} attempts` };
      }
    }
  }
}

/** A COMMAND_LONG for `target` (sysid 0: every system on the link). */
/** COMMAND_INT for a target (x, y as 1e7 integers). */
export function buildCommandInt(target: { sysid: number; compid: number }, cmd: CommandIntParams): common.CommandInt {
  const m = new common.CommandInt();
  m.targetSystem = target.sysid;
  m.targetComponent = target.compid;
  m.command = cmd.command;
  m.frame = cmd.frame;
  const p = cmd.params ?? [];
  m._param1 = p[0] ?? 0;
  m._param2 = p[1] ?? 0;
  m._param3 = p[2] ?? 0;
  m._param4 = p[3] ?? 0;
  m._param5 = Math.round(cmd.x * 1e7); // x: latitude 1e7 (mavlink-mappings names x, y, z _param5.._param7)
  m._param6 = Math.round(cmd.y * 1e7);
  m._param7 = cmd.z;
  return m;
}

export function buildCommandLong(target: { sysid: number; compid: number }, cmd: CommandParams, confirmation = 0): common.CommandLong {
  const m = new common.CommandLong();
  m.targetSystem = target.sysid;
  m.targetComponent = target.compid;
  m.command = cmd.command;
  const p = cmd.params ?? [];
  m._param1 = p[0] ?? 0;
  m._param2 = p[1] ?? 0;
  m._param3 = p[2] ?? 0;
  m._param4 = p[3] ?? 0;
  m._param5 = p[4] ?? 0;
  m._param6 = p[5] ?? 0;
  m._param7 = p[6] ?? 0;
  m.confirmation = Math.min(confirmation, 255);
  return m;
}

/** A refusal with the autopilot's reason, when it gave one, in its detail too. */
function explained(r: CommandResult & { ok: false }, explanation: string | undefined): CommandResult {
  return explanation ? { ...r, detail: `${r.detail}: ${explanation}`, explanation } : r;
}

/**
 * The STATUSTEXTs at WARNING or worse (MAV_SEVERITY 0–4) the target sends after a command's first
 * refusal: the autopilot explaining it. Texts from before (a pre-arm report, say) say nothing of it.
 */
class RefusalTexts {
  private readonly texts: string[] = [];
  private readonly assembler = new StatusTextAssembler();
  private since = false;
  private lastAtMs = -Infinity;
  /** Wakes collect() when a text comes. */
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly port: MessagePort) {
    this.unsubscribe = port.onMessage((m) => {
      if (!(m instanceof common.StatusText) || !this.since || m.severity > common.MavSeverity.WARNING) return;
      const text = this.assembler.push(m);
      if (text === undefined) return;
      this.lastAtMs = port.clock.now();
      if (!this.texts.includes(text)) this.texts.push(text);
      this.wake?.();
    });
  }

  /** A refusal ACK came: what follows explains it. */
  refused(): void {
    this.since = true;
  }

  /** Waits for the texts to stop (QUIET_MS after the last whole one, none half-sent) or `maxMs`, and joins them. */
  async collect(maxMs: number): Promise<string | undefined> {
    const deadline = this.port.clock.now() + maxMs;
    for (;;) {
      const quietAt = this.texts.length && !this.assembler.partial ? this.lastAtMs + QUIET_MS : deadline;
      const end = Math.min(deadline, quietAt);
      const now = this.port.clock.now();
      if (now >= end) break;
      const clock = this.port.clock;
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(resolve, end - now);
        this.wake = () => {
          clock.clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.texts.length ? this.texts.join('; ') : undefined;
  }

  stop(): void {
    this.unsubscribe();
  }
}

function sleep(port: MessagePort, ms: number): Promise<void> {
  return new Promise((resolve) => port.clock.setTimeout(resolve, ms));
}
