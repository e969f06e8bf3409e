import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusLine } from '../../controller/status-line.ts';

/** A stream that records what is written to it, as a terminal (isTTY) or a pipe. */
function stream(isTTY: boolean, columns = 40): NodeJS.WriteStream & { text: () => string } {
  let text = '';
  const s = { isTTY, columns, write: (chunk: string) => ((text += chunk), true), text: () => text };
  return s as unknown as NodeJS.WriteStream & { text: () => string };
}

test('on a terminal the status line is redrawn in place, cut to the width, and other output goes above it', () => {
  const out = stream(true, 30);
  const err = stream(true);
  const line = new StatusLine(out, err);
  assert.equal(line.inPlace, true);
  line.update('12:00:00Z  25 drones: 23 armed  net 23/23 stations');
  line.update('12:00:01Z  25 drones');
  out.write('drone d7 found\n');
  err.write('warn: a log line\n');
  // Each redraw erases the line first (ECMA-48 EL); a line written meanwhile is put above the status line.
  assert.equal(out.text(), '\r\x1b[2K12:00:00Z  25 drones: 23 arm…' + '\r\x1b[2K12:00:01Z  25 drones' + '\r\x1b[2Kdrone d7 found\n12:00:01Z  25 drones' + '\r\x1b[2K12:00:01Z  25 drones');
  assert.equal(err.text(), 'warn: a log line\n');
  line.clear();
  assert.ok(out.text().endsWith('\r\x1b[2K'), 'cleared at the end');
  out.write('after\n');
  assert.ok(out.text().endsWith('\r\x1b[2Kafter\n'), 'writes are plain again once cleared');
});

test('off a terminal (the journal, a pipe) each update is a plain line and nothing is intercepted', () => {
  const out = stream(false);
  const err = stream(false);
  const line = new StatusLine(out, err);
  assert.equal(line.inPlace, false);
  line.update('one');
  out.write('between\n');
  line.update('two');
  assert.equal(out.text(), 'one\nbetween\ntwo\n');
});
