import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanopyError } from '../../../common/errors.ts';
import { ContactPlan, FOREVER, WindowBudget } from '../../../controller/relay/contact-plan.ts';

test('current() and next() find the open and the coming window; boundaries are [start, end)', () => {
  const plan = new ContactPlan([
    { start: 300, end: 400 },
    { start: 100, end: 200 },
  ]);
  assert.equal(plan.current(99), undefined);
  assert.deepEqual(plan.current(100), { start: 100, end: 200 });
  assert.deepEqual(plan.current(199), { start: 100, end: 200 });
  assert.equal(plan.current(200), undefined);
  assert.deepEqual(plan.next(200), { start: 300, end: 400 });
  assert.deepEqual(plan.next(0), { start: 100, end: 200 });
  assert.equal(plan.next(300), undefined);
  assert.deepEqual(new ContactPlan('always').current(Date.UTC(2030, 0, 1)), { start: 0, end: FOREVER });
});

test('bad plans fail fast naming the window', () => {
  const bad = (windows: { start: number; end: number; budgetBytes?: number }[], pattern: RegExp) =>
    assert.throws(() => new ContactPlan(windows), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && pattern.test(e.message));
  bad([{ start: 5, end: 5 }], /start < end/);
  bad([{ start: 0, end: Number.NaN }], /start < end/);
  bad([{ start: 0, end: 10, budgetBytes: -1 }], /budgetBytes/);
  bad(
    [
      { start: 0, end: 10 },
      { start: 5, end: 20 },
    ],
    /overlap/,
  );
});

test('WindowBudget serves the total and each class share', () => {
  const budget = new WindowBudget({ start: 0, end: 1, budgetBytes: 1000 }, { control: 1, hot: 1, bulk: 0.5 });
  assert.ok(budget.allows('bulk', 500));
  assert.ok(!budget.allows('bulk', 501), 'bulk may use half');
  budget.spend('bulk', 500);
  assert.ok(!budget.allows('bulk', 1));
  assert.ok(budget.allows('control', 500));
  assert.ok(!budget.allows('control', 501), 'the total is shared');
  budget.spend('control', 500);
  assert.equal(budget.remaining, 0);
  const unlimited = new WindowBudget({ start: 0, end: 1 }, { control: 1, hot: 1, bulk: 0 });
  assert.ok(unlimited.allows('bulk', 1e12));
  assert.equal(unlimited.remaining, Infinity);
});
