/**
 * The application's event bus (zigbee2mqtt's lib/eventBus.ts): the inputs one part gives another
 * travel here, typed, instead of through closures bound after construction. Every listener has an
 * owner (an extension's name); `removeOwner` on the owner's stop() takes all of its listeners off,
 * so a stopped part hears nothing more. A listener that throws is logged and does not keep the
 * event from the other listeners.
 */
import type { Logger } from '../../firmware-bridge/log.ts';
import type { Vehicle } from '../../firmware-bridge/vehicles/index.ts';
import type { Transition } from '../fleet/fleet.ts';
import type { PowerBudget } from '../power/budget.ts';

export interface BusEvents {
  /** A drone's session began (its first HEARTBEAT on a drone link). */
  'vehicle-found': Vehicle;
  /** A lost drone is heard again (same session). */
  'vehicle-back': Vehicle;
  /** A drone's HEARTBEAT stopped for longer than the session allows. */
  'vehicle-lost': Vehicle;
  /** A decoded message from a drone updated its telemetry. */
  telemetry: Vehicle;
  /** The fleet moved a drone from one role to another. */
  'fleet-transition': Transition;
  /** The power budget was recomputed. */
  budget: PowerBudget;
  /** Whether the budget grants the uplink its dish (sent when it changes, and once at start). */
  'power-grant': boolean;
  /** Whether the relay has the dish powered (sent when it changes). */
  uplink: { dishOn: boolean };
}

type Listener<K extends keyof BusEvents> = (value: BusEvents[K]) => void;

export class EventBus {
  private readonly listeners = new Map<keyof BusEvents, { owner: string; fn: Listener<never> }[]>();

  constructor(private readonly log: Logger) {}

  on<K extends keyof BusEvents>(owner: string, event: K, fn: Listener<K>): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, fn: fn as Listener<never> });
    this.listeners.set(event, list);
  }

  emit<K extends keyof BusEvents>(event: K, value: BusEvents[K]): void {
    for (const { owner, fn } of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<K>)(value);
      } catch (e) {
        this.log.error(`${owner}: a listener of "${event}" failed`, { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /** Removes every listener `owner` added. */
  removeOwner(owner: string): void {
    for (const [event, list] of this.listeners) {
      const kept = list.filter((l) => l.owner !== owner);
      if (kept.length) this.listeners.set(event, kept);
      else this.listeners.delete(event);
    }
  }

  /** Listeners in all, or of one owner (tests: a stopped part left none behind). */
  listenerCount(owner?: string): number {
    let n = 0;
    for (const list of this.listeners.values()) n += owner === undefined ? list.length : list.filter((l) => l.owner === owner).length;
    return n;
  }
}
