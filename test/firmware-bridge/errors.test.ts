/** The coded-error base every layer shares, and the library's independence from the application. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { CodedError, isCodedError, MavlinkError } from '../../firmware-bridge/errors.ts';
import { HardwareError } from '../../hardware/errors.ts';
import { repoRoot } from '../helpers/tools.ts';

test('a coded error of any layer is told by isCodedError, and by its code', () => {
  const cause = new Error('EADDRINUSE');
  const e = new MavlinkError('CANOPY_ERR_PORT_IN_USE', 'UDP port 14550 is already in use', { cause });
  assert.ok(e instanceof CodedError && e instanceof Error);
  assert.equal(e.name, 'MavlinkError');
  assert.equal(e.cause, cause);
  assert.ok(isCodedError(e) && isCodedError(e, 'CANOPY_ERR_PORT_IN_USE'));
  assert.ok(!isCodedError(e, 'CANOPY_ERR_TIMEOUT'));
  assert.ok(isCodedError(new HardwareError('CANOPY_ERR_RADIO_VERIFY', 'NETID reads back 0'), 'CANOPY_ERR_RADIO_VERIFY'));
  assert.ok(!isCodedError(Object.assign(new Error('plain'), { code: 'CANOPY_ERR_TIMEOUT' })), 'a code alone does not make a coded error');
});

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('the library imports nothing of the application (controller/, hardware/, sim/, dashboard/)', () => {
  const library = join(repoRoot, 'firmware-bridge');
  const outside = files(library).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\bfrom '(\.[^']+)'|\bimport\('(\.[^']+)'\)/g)]
      .map((m) => resolve(dirname(file), m[1] ?? m[2]!))
      .filter((target) => relative(library, target).startsWith('..'))
      .map((target) => `${relative(repoRoot, file)} imports ${relative(repoRoot, target)}`),
  );
  assert.deepEqual(outside, []);
});
