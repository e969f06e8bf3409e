/**
 * The dialect: CRC_EXTRA computed as the spec says (checked against every message mavlink-mappings
 * carries), and the WIP messages it lacks (protocol/wip.ts) read from a real ArduCopter 4.8 session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ardupilotmega, common, minimal, standard } from 'mavlink-mappings';
import { crcExtra } from '../../../firmware-bridge/protocol/crc.ts';
import { messageInfo, messageInfoByName } from '../../../firmware-bridge/protocol/dialect.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../firmware-bridge/protocol/frame.ts';
import { Framer } from '../../../firmware-bridge/protocol/framer.ts';
import { MavParamError, ParamError } from '../../../firmware-bridge/protocol/wip.ts';
import { fixtureFigures, fixturePath, tlogFramesByLength, type MavlinkFigures } from '../../helpers/fixtures.ts';

test('crcExtra reproduces the CRC_EXTRA of every message of the four dialects', () => {
  const wrong: string[] = [];
  let n = 0;
  for (const registry of [minimal.REGISTRY, common.REGISTRY, standard.REGISTRY, ardupilotmega.REGISTRY]) {
    for (const clazz of Object.values(registry)) {
      n++;
      if (crcExtra(clazz) !== clazz.MAGIC_NUMBER) wrong.push(`${clazz.MSG_NAME}: ${crcExtra(clazz)} ≠ ${clazz.MAGIC_NUMBER}`);
    }
  }
  assert.ok(n > 250, `${n} messages`);
  assert.deepEqual(wrong, []);
});

test('PARAM_ERROR is in the dialect: id 345, 21 bytes, CRC_EXTRA 209 (mavgen\'s MAVLINK_MSG_ID_PARAM_ERROR_CRC)', () => {
  const info = messageInfo(345)!;
  assert.equal(info.name, 'PARAM_ERROR');
  assert.equal(messageInfoByName('PARAM_ERROR'), info);
  assert.deepEqual([info.crcExtra, info.maxLength, info.baseLength, info.targetSystemOffset, info.targetComponentOffset], [209, 21, 21, 2, 3]);
});

test('the recorded ArduCopter 4.8 PARAM_ERRORs pass the CRC check and decode to the names asked for', () => {
  const rel = 'mavlink/arducopter-sitl.tlog';
  const figures = fixtureFigures<MavlinkFigures>(rel);
  const frames: Frame[] = [];
  const framer = new Framer((f) => frames.push({ ...f, raw: Buffer.from(f.raw) }));
  framer.push(Buffer.concat(tlogFramesByLength(readFileSync(fixturePath(rel))).map((r) => r.raw)));
  framer.flush();
  assert.equal(framer.stats.badCrc, 0);
  const errors = frames.filter((f) => f.msgid === ParamError.MSG_ID);
  assert.equal(errors.length, figures.messages['345']!.count);
  assert.ok(errors.every((f) => f.known), 'known: their CRC was checked with CRC_EXTRA');
  const decoded = errors.map((f) => decodeFrame(f) as ParamError);
  assert.ok(decoded.every((m) => m instanceof ParamError && m.error === MavParamError.DOES_NOT_EXIST && m.paramIndex === -1));
  assert.ok(decoded.every((m) => m.targetSystem === 255 && m.targetComponent === 190), 'addressed to the ground station that asked');
  assert.deepEqual([...new Set(decoded.map((m) => m.paramId))], ['SYSID_THISMAV', 'ARMING_CHECK', 'WPNAV_SPEED']);
  // Encoding one again gives the recorded bytes.
  const first = errors[0]!;
  const again = encodeFrame(decoded[0]!, { sysid: first.sysid, compid: first.compid, seq: first.seq });
  assert.equal(again.toString('hex'), first.raw.toString('hex'));
});
