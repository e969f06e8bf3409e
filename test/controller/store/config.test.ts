import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanopyError } from '../../../common/errors.ts';
import { parseConfig } from '../../../controller/config.ts';
import { parseSize } from '../../../controller/store/size.ts';

test('sizes: decimal and binary units, plain bytes; anything else is named', () => {
  assert.equal(parseSize('10G'), 10e9);
  assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
  assert.equal(parseSize('1.5 TB'), 1.5e12);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize('4096'), 4096);
  assert.throws(() => parseSize('lots', '--quota-cold'), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /--quota-cold "lots" is not a size/.test(e.message));
  assert.throws(() => parseSize(-1), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
});

test('canopy.yaml store section: defaults, quotas as sizes, k ≤ n, unknown fields named', () => {
  const c = parseConfig('store: { neighbours: [alice, bob], quotas: { cold: 10G, hot: 512MiB } }', 'canopy.yaml', '.', {});
  assert.deepEqual(c.store, { owner: 'phone', neighbours: ['alice', 'bob'], k: 3, n: 6, quotas: { cold: 10e9, hot: 512 * 1024 ** 2 } });
  assert.equal(parseConfig('{}', 'canopy.yaml', '.', {}).store, undefined);
  assert.throws(() => parseConfig('store: { k: 5, n: 3 }', 'canopy.yaml', '.', {}), (e) => isCanopyError(e, 'CANOPY_ERR_CONFIG') && /store\.k: .*k must not be larger than n/.test(e.message));
  assert.throws(() => parseConfig('store: { quotas: { warm: 1G } }', 'canopy.yaml', '.', {}), (e) => isCanopyError(e, 'CANOPY_ERR_CONFIG') && /store\.quotas\.warm: unknown field/.test(e.message));
  assert.throws(() => parseConfig('store: { neighbours: ["a/b"] }', 'canopy.yaml', '.', {}), (e) => isCanopyError(e, 'CANOPY_ERR_CONFIG') && /store\.neighbours\.0/.test(e.message));
});
