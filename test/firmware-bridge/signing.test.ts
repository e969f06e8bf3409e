import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { common, minimal } from 'mavlink-mappings';
import { MavLinkPacketSignature, MavLinkProtocolV2 } from 'node-mavlink';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { keyFromPassphrase, MavlinkSigning, computeSignature, sendSetupSigning, signingTimestamp, SIGNING_EPOCH_MS, type TimestampStore } from '../../firmware-bridge/microservices/signing/index.ts';
import { encodeFrame, frameFromRaw, SIGNATURE_LENGTH } from '../../firmware-bridge/protocol/frame.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { collect, flush, nodePair } from '../helpers/nodes.ts';

const KEY = keyFromPassphrase('canopy test key');
const OTHER_KEY = keyFromPassphrase('another key');
const T0 = Date.UTC(2026, 0, 1);

function heartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.customMode = 4;
  return hb;
}

function signedFrame(signing: MavlinkSigning, seq = 0, linkId = 0, sysid = 1): Buffer {
  const raw = encodeFrame(heartbeat(), { sysid, compid: 1, seq, signed: true });
  signing.sign(raw, linkId, 255);
  return raw;
}

function timestampOf(raw: Buffer): number {
  return raw.readUIntLE(raw.length - 12, 6);
}

function memoryStore(): TimestampStore & { saved: number | undefined; saves: number } {
  const store = {
    saved: undefined as number | undefined,
    saves: 0,
    load: () => store.saved,
    save(ts: number) {
      store.saved = ts;
      store.saves++;
    },
  };
  return store;
}

test('keys from a passphrase are SHA-256 of it, as Mission Planner, MAVProxy and node-mavlink make them', () => {
  assert.deepEqual(KEY, MavLinkPacketSignature.key('canopy test key'));
  assert.throws(() => keyFromPassphrase(''), /must not be empty/);
});

test('signature matches the spec formula, node-mavlink on the same bytes, and frames node-mavlink signed verify', () => {
  const clock = new ManualClock(T0);
  const signing = new MavlinkSigning({ clock, networkKey: KEY });
  const raw = signedFrame(signing, 7, 3);
  const sigAt = raw.length - SIGNATURE_LENGTH;
  assert.equal(raw[sigAt], 3, 'link id');
  assert.equal(timestampOf(raw), signingTimestamp(clock.now()));
  assert.equal(signingTimestamp(SIGNING_EPOCH_MS + 1), 100, 'unit is 10 µs');
  assert.equal(signingTimestamp(Date.UTC(2015, 0, 1, 0, 0, 1)), 100_000);
  // sha256_48(secret_key + header + payload + CRC + link-ID + timestamp), by hand.
  const header = raw.subarray(0, 10);
  const payloadAndCrc = raw.subarray(10, sigAt);
  const linkAndTime = raw.subarray(sigAt, sigAt + 7);
  const byHand = createHash('sha256').update(Buffer.concat([KEY, header, payloadAndCrc, linkAndTime])).digest().subarray(0, 6);
  assert.deepEqual(raw.subarray(raw.length - 6), byHand);
  assert.deepEqual(computeSignature(KEY, raw), byHand);
  assert.equal(new MavLinkPacketSignature(raw).calculate(KEY), byHand.toString('hex'));
  assert.ok(new MavLinkPacketSignature(raw).matches(KEY));

  // The other direction: node-mavlink signs (its timestamp argument is in ms), we verify.
  const unsigned = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 8, signed: true }).subarray(0, -SIGNATURE_LENGTH);
  const theirs = new MavLinkProtocolV2().sign(Buffer.from(unsigned), 3, KEY, clock.now() + 1);
  assert.equal(new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true }).verify(frameFromRaw(theirs), 0), 'ok');
});

test('1000 back-to-back frames on a frozen clock get strictly increasing timestamps; a restart resumes above them', () => {
  const clock = new ManualClock(T0);
  const store = memoryStore();
  const signing = new MavlinkSigning({ clock, networkKey: KEY, store });
  let last = -1;
  for (let i = 0; i < 1000; i++) {
    const ts = timestampOf(signedFrame(signing, i));
    assert.ok(ts > last, `frame ${i}: ${ts} > ${last}`);
    last = ts;
  }
  assert.equal(last, signingTimestamp(T0) + 999, 'one 10 µs step per frame while the clock stands still');
  assert.equal(store.saves, 1, 'a reservation, not a save per frame');
  assert.ok(store.saved! > last);
  // Restart with the clock set back (a Pi without RTC before NTP): still above everything used.
  const restarted = new MavlinkSigning({ clock: new ManualClock(Date.UTC(2025, 0, 1)), networkKey: KEY, store });
  assert.ok(timestampOf(signedFrame(restarted)) > last);
  // With a clock that is ahead of the reservation, the clock wins.
  const later = new MavlinkSigning({ clock: new ManualClock(T0 + 3_600_000), networkKey: KEY, store });
  assert.equal(timestampOf(signedFrame(later)), signingTimestamp(T0 + 3_600_000));
});

test('round trip between two nodes: signed frames verify; replay and tampering are refused', async () => {
  const clock = new ManualClock(T0);
  const gcsSigning = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const droneSigning = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const { a: gcs, b: drone, ca, cb, lb } = await nodePair({ clock, a: { channel: { signing: gcsSigning } }, b: { channel: { signing: droneSigning } } });
  const atDrone = collect(drone);
  const atGcs = collect(gcs);
  const cmd = new common.CommandLong();
  cmd.targetSystem = 1;
  cmd.targetComponent = 1;
  cmd.command = common.MavCmd.COMPONENT_ARM_DISARM;
  cmd._param1 = 1;
  const sent = ca.send(cmd, gcs, 1);
  drone.broadcast(heartbeat());
  await flush();
  assert.equal(atDrone.length, 1);
  assert.ok(atDrone[0]!.frame.signed);
  assert.equal(atGcs.length, 1, 'the drone signs its answers too');
  assert.ok(atGcs[0]!.frame.signed);
  assert.equal(droneSigning.stats.verified, 1);

  // The same bytes again: a replay.
  lb.emit('data', Buffer.from(sent), 'attacker');
  // An attacker changes the payload of a genuine frame and fixes the CRC; only the signature can tell.
  const tampered = Buffer.from(ca.send(cmd, gcs, 1));
  await flush();
  tampered[10] ^= 1;
  const len = tampered[1]!;
  tampered.writeUInt16LE(frameCrc(tampered, 1, 10 + len, common.CommandLong.MAGIC_NUMBER), 10 + len);
  lb.emit('data', tampered, 'attacker');
  await flush();
  assert.equal(atDrone.length, 2, 'only the genuine second command got through');
  assert.equal(droneSigning.stats.replayed, 1);
  assert.equal(droneSigning.stats.badSignature, 1);
  assert.equal(cb.stats.rejected.replay, 1);
  assert.equal(cb.stats.rejected['bad-signature'], 1);
});

test('replay checks are per (sysid, compid, link id) stream; a new stream a minute behind is refused', () => {
  const clock = new ManualClock(T0);
  const verifier = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const sender = new MavlinkSigning({ clock, networkKey: KEY });
  const onLink0 = signedFrame(sender, 0, 0);
  const onLink1 = signedFrame(sender, 1, 1);
  const fromSys2 = signedFrame(sender, 2, 0, 2);
  // Delivered out of order across streams: each stream is still moving forward.
  assert.equal(verifier.verify(frameFromRaw(fromSys2), 0), 'ok');
  assert.equal(verifier.verify(frameFromRaw(onLink1), 0), 'ok');
  assert.equal(verifier.verify(frameFromRaw(onLink0), 0), 'ok');
  assert.equal(verifier.verify(frameFromRaw(onLink0), 0), 'replay');

  // A new stream: 59 s behind is accepted, 61 s behind is not.
  const at = (msAgo: number, sysid: number) => signedFrame(new MavlinkSigning({ clock: new ManualClock(T0 - msAgo), networkKey: KEY }), 0, 0, sysid);
  assert.equal(verifier.verify(frameFromRaw(at(59_000, 3)), 0), 'ok');
  assert.equal(verifier.verify(frameFromRaw(at(61_000, 4)), 0), 'replay');
  assert.equal(verifier.stats.replayed, 2);
});

test('a correctly signed frame from a clock ahead of ours moves our local timestamp on', () => {
  const clock = new ManualClock(T0);
  const gcs = new MavlinkSigning({ clock, networkKey: KEY });
  const droneAhead = new MavlinkSigning({ clock: new ManualClock(T0 + 10_000), networkKey: KEY });
  const fromDrone = signedFrame(droneAhead);
  assert.equal(gcs.verify(frameFromRaw(fromDrone), 0), 'ok');
  assert.ok(timestampOf(signedFrame(gcs)) > timestampOf(fromDrone));
  // A forged one (bad MAC) must not move it.
  const forged = signedFrame(new MavlinkSigning({ clock: new ManualClock(T0 + 3_600_000), networkKey: OTHER_KEY }), 0, 0, 5);
  assert.equal(gcs.verify(frameFromRaw(forged), 0), 'bad-signature');
  assert.ok(timestampOf(signedFrame(gcs)) < signingTimestamp(T0 + 3_600_000));
});

test('a signed frame more than a minute ahead of local time is refused and cannot poison the streams that follow', () => {
  const clock = new ManualClock(T0);
  const gcs = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  // One drone's clock a year ahead, correctly signed.
  const badClock = signedFrame(new MavlinkSigning({ clock: new ManualClock(T0 + 365 * 86_400_000), networkKey: KEY }), 0, 0, 9);
  assert.equal(gcs.verify(frameFromRaw(badClock), 0), 'future');
  assert.equal(gcs.stats.future, 1);
  // Every honest stream that starts after it is still accepted (spec: a new stream within a minute of local time).
  for (const sysid of [1, 2, 3]) assert.equal(gcs.verify(frameFromRaw(signedFrame(new MavlinkSigning({ clock, networkKey: KEY }), 0, 0, sysid)), 0), 'ok');
  // 59 s ahead is a clock a little off: accepted.
  const close = signedFrame(new MavlinkSigning({ clock: new ManualClock(T0 + 59_000), networkKey: KEY }), 0, 0, 4);
  assert.equal(gcs.verify(frameFromRaw(close), 0), 'ok');
});

test('one signing state under two policies: a GCS link that must sign beside drone links that need not', () => {
  const clock = new ManualClock(T0);
  const signing = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: false });
  const strict = signing.withPolicy({ requireSigned: true });
  const unsigned = frameFromRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 }));
  assert.equal(signing.verify(unsigned, 0), 'unsigned-allowed');
  assert.equal(strict.verify(unsigned, 1), 'unsigned');
  assert.equal(signing.requireSigned, false, 'the shared policy is unchanged');
  const signed = signedFrame(new MavlinkSigning({ clock, networkKey: KEY }));
  assert.equal(strict.verify(frameFromRaw(signed), 1), 'ok');
  assert.equal(signing.verify(frameFromRaw(signed), 1), 'replay', 'the replay window is shared');
});

test('require-signed drops an unsigned HEARTBEAT but passes RADIO_STATUS; signing off passes unsigned frames', async () => {
  const clock = new ManualClock(T0);
  const droneSigning = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const { a: radio, b: drone, cb } = await nodePair({ clock, a: { sysid: 51, compid: 68 }, b: { channel: { signing: droneSigning } } });
  const got = collect(drone);
  radio.broadcast(heartbeat());
  const status = new common.RadioStatus();
  status.rssi = 150;
  status.remrssi = 140;
  radio.broadcast(status);
  await flush();
  assert.deepEqual(got.map((m) => m.frame.msgid), [common.RadioStatus.MSG_ID]);
  assert.equal(cb.stats.rejected.unsigned, 1);
  assert.equal(droneSigning.stats.unsigned, 1);

  const unsignedHb = frameFromRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 }));
  assert.equal(new MavlinkSigning({ clock, networkKey: KEY }).verify(unsignedHb, 0), 'unsigned-allowed');
  // A signed frame from a system we hold no key for: refused under require-signed, else treated as unsigned.
  const foreign = frameFromRaw(signedFrame(new MavlinkSigning({ clock, networkKey: KEY }), 0, 0, 9));
  const perDrone = (requireSigned: boolean) => new MavlinkSigning({ clock, keys: new Map([[1, KEY]]), requireSigned });
  assert.equal(perDrone(true).verify(foreign, 0), 'no-key');
  assert.equal(perDrone(false).verify(foreign, 0), 'unsigned-allowed');
});

test('per-drone keys take precedence over the network key; broadcasts use the network key', () => {
  const clock = new ManualClock(T0);
  const gcs = new MavlinkSigning({ clock, networkKey: KEY, keys: new Map([[2, OTHER_KEY]]) });
  const toDrone2 = encodeFrame(heartbeat(), { sysid: 255, compid: 190, seq: 0, signed: true });
  gcs.sign(toDrone2, 0, 2);
  const toAll = encodeFrame(heartbeat(), { sysid: 255, compid: 190, seq: 1, signed: true });
  gcs.sign(toAll, 0, 0);
  assert.ok(new MavLinkPacketSignature(toDrone2).matches(OTHER_KEY));
  assert.ok(new MavLinkPacketSignature(toAll).matches(KEY));
  assert.equal(new MavlinkSigning({ clock, keys: new Map([[7, KEY]]), signOutgoing: true }).wantsSigned(0), false, 'no key for broadcast: unsigned');
  assert.equal(new MavlinkSigning({ clock, networkKey: KEY, signOutgoing: false }).wantsSigned(1), false);
});

test('SETUP_SIGNING hands a drone its key and timestamp; what follows is signed with that key', async () => {
  const clock = new ManualClock(T0);
  const gcsSigning = new MavlinkSigning({ clock });
  const { a: gcs, b: drone, ca } = await nodePair({ clock, a: { channel: { signing: gcsSigning } } });
  const got = collect(drone);
  const droneKey = keyFromPassphrase('drone 1 only');
  gcsSigning.handOverKey(gcs.portTo(ca, 1, 1), droneKey);
  gcs.send(ca, heartbeat(), 1);
  await flush();
  assert.equal(got.length, 2);
  const setup = got[0]!.message as common.SetupSigning;
  assert.equal(got[0]!.frame.msgid, 256);
  assert.equal(got[0]!.frame.signed, false, 'the drone had no key yet: SETUP_SIGNING travels under the old policy');
  assert.equal(setup.targetSystem, 1);
  assert.equal(setup.targetComponent, 1);
  assert.deepEqual(Buffer.from(setup.secretKey), droneKey);
  assert.equal(setup.initialTimestamp, BigInt(signingTimestamp(T0)));
  const next = got[1]!.frame;
  assert.ok(next.signed);
  assert.ok(timestampOf(next.raw) > Number(setup.initialTimestamp));
  const droneSide = new MavlinkSigning({ clock, networkKey: droneKey, requireSigned: true });
  assert.equal(droneSide.verify(next, 0), 'ok');

  // The bare sender, e.g. to disable signing on a drone: zero key, timestamp 0.
  sendSetupSigning(gcs.portTo(ca, 1, 1), Buffer.alloc(32), 0);
  await flush();
  assert.equal((got[2]!.message as common.SetupSigning).initialTimestamp, 0n);
});

test('keys are 32 bytes; a wrong size is a clear error', () => {
  assert.throws(() => new MavlinkSigning({ clock: new ManualClock(), networkKey: Buffer.alloc(16) }), /network signing key must be 32 bytes, got 16/);
  assert.throws(() => new MavlinkSigning({ clock: new ManualClock() }).setKey(3, Buffer.alloc(31)), /system 3 must be 32 bytes/);
});
