/** The application's event bus (controller/app/bus.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../../controller/app/bus.ts';
import type { Logger } from '../../../firmware-bridge/log.ts';

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  const log: Logger & { errors: string[] } = { errors, debug() {}, info() {}, warn() {}, error: (m: string) => void errors.push(m), child: () => log };
  return log;
}

test('listeners hear their events in order; an owner removed hears nothing more, the others still do', () => {
  const bus = new EventBus(recordingLogger());
  const heard: string[] = [];
  bus.on('relay', 'power-grant', (g) => heard.push(`relay ${g}`));
  bus.on('site', 'power-grant', (g) => heard.push(`site ${g}`));
  bus.on('relay', 'uplink', ({ dishOn }) => heard.push(`dish ${dishOn}`));
  bus.emit('power-grant', true);
  assert.equal(bus.listenerCount('relay'), 2);
  bus.removeOwner('relay');
  assert.equal(bus.listenerCount('relay'), 0);
  bus.emit('power-grant', false);
  bus.emit('uplink', { dishOn: true });
  assert.deepEqual(heard, ['relay true', 'site true', 'site false']);
});

test('a listener that throws is logged with its owner and the event still reaches the others', () => {
  const log = recordingLogger();
  const bus = new EventBus(log);
  const heard: boolean[] = [];
  bus.on('broken', 'power-grant', () => {
    throw new Error('boom');
  });
  bus.on('fine', 'power-grant', (g) => heard.push(g));
  bus.emit('power-grant', true);
  assert.deepEqual(heard, [true]);
  assert.equal(log.errors.length, 1);
  assert.match(log.errors[0]!, /broken: a listener of "power-grant" failed/);
});
