/** Encoding and decoding one message: values that do not fit are named, decoding fills every field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { isCodedError } from '../../../firmware-bridge/errors.ts';
import { decodeFrame, encodeFrame, encodePayload, frameFromRaw, newMessage } from '../../../firmware-bridge/protocol/frame.ts';

test('a field value that does not fit its wire type is a clear error naming the field, not a crash deep in the serialiser', () => {
  const s = new common.SysStatus();
  s.currentBattery = 49050;
  assert.throws(() => encodePayload(s), (e: unknown) => isCodedError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /SYS_STATUS: current_battery = 49050 does not fit int16_t/.test((e as Error).message));
});

test('decoding sets every field (without the class constructor) and round-trips; newMessage copies defaults', () => {
  const s = newMessage(common.SysStatus);
  s.voltageBattery = 25200;
  s.currentBattery = -1234;
  s.batteryRemaining = 87;
  const raw = encodeFrame(s, { sysid: 3, compid: 1, seq: 9 });
  const back = decodeFrame(frameFromRaw(raw)!) as common.SysStatus;
  assert.ok(back instanceof common.SysStatus);
  for (const f of common.SysStatus.FIELDS) assert.notEqual((back as unknown as Record<string, unknown>)[f.name], undefined, f.name);
  assert.equal(back.voltageBattery, 25200);
  assert.equal(back.currentBattery, -1234);
  assert.equal(back.batteryRemaining, 87);
  const hb = newMessage(minimal.Heartbeat);
  assert.deepEqual({ ...hb }, { ...new minimal.Heartbeat() });
});
