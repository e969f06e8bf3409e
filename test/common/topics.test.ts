import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filtersIntersect, isValidFilter, isValidTopicName, topicMatches } from '../../controller/mesh/filters.ts';
import {
  classFilters,
  decodeEnvelope,
  decodeJson,
  encodeEnvelope,
  encodeJson,
  parseTopic,
  topicTree,
  TOPIC_CLASSES,
  type ParsedTopic,
} from '../../common/topics.ts';

test('topicMatches follows MQTT 3.1.1 §4.7 wildcard rules', () => {
  const cases: [string, string, boolean][] = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true], // '#' includes the parent level
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player2', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true], // an empty level is a level
    ['+/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/broker/uptime', false], // [MQTT-4.7.2-1]
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
  ];
  for (const [filter, topic, expected] of cases) assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
});

test('filtersIntersect is true exactly when one topic can match both filters', () => {
  const cases: [string, string, boolean][] = [
    ['canopy/#', 'canopy/drones/+', true],
    ['canopy/+/set', 'canopy/drones/+', true], // canopy/drones/set
    ['canopy/+/set/x', 'canopy/drones/+', false],
    ['canopy/drones/+/set', 'canopy/drones/7/+', true],
    ['canopy/store/alice/#', 'canopy/store/bob/#', false],
    ['canopy/store/+/x', 'canopy/store/alice/#', true],
    ['#', '$SYS/#', false],
    ['$SYS/+', '$SYS/#', true],
    ['a/b', 'a/b/c', false],
    ['a/+', 'a/#', true],
  ];
  for (const [a, b, expected] of cases) {
    assert.equal(filtersIntersect(a, b), expected, `${a} ∩ ${b}`);
    assert.equal(filtersIntersect(b, a), expected, `${b} ∩ ${a} (symmetric)`);
  }
});

test('filter and topic-name validity', () => {
  assert.ok(isValidFilter('a/+/b/#'));
  assert.ok(!isValidFilter('a/#/b'));
  assert.ok(!isValidFilter('a/b#'));
  assert.ok(!isValidFilter('a+/b'));
  assert.ok(!isValidFilter(''));
  assert.ok(isValidTopicName('a/b'));
  assert.ok(!isValidTopicName('a/+'));
  assert.ok(!isValidTopicName(''));
});

test('every builder in the topic tree parses back to its kind', () => {
  const t = topicTree('home');
  const cases: [string, ParsedTopic][] = [
    [t.drone('d7'), { kind: 'drone', id: 'd7' }],
    [t.availability('d7'), { kind: 'availability', id: 'd7' }],
    [t.droneSet('d7'), { kind: 'droneSet', id: 'd7' }],
    [t.power, { kind: 'power' }],
    [t.uplink, { kind: 'uplink' }],
    [t.fleet, { kind: 'fleet' }],
    [t.powerHistory, { kind: 'powerHistory' }],
    [t.bridgeState, { kind: 'bridgeState' }],
    [t.event, { kind: 'event' }],
    [t.eventHistory, { kind: 'eventHistory' }],
    [t.request('health_check'), { kind: 'request', verb: 'health_check' }],
    [t.response('device/rename'), { kind: 'response', verb: 'device/rename' }],
    [t.store('alice', 'chunks', 'ab12'), { kind: 'store', owner: 'alice', path: 'chunks/ab12' }],
    [t.relay('bulk', 'backup/x'), { kind: 'relay', cls: 'bulk', dest: 'backup/x' }],
    [t.forecast, { kind: 'forecast' }],
  ];
  for (const [topic, parsed] of cases) assert.deepEqual(parseTopic('home', topic), parsed, topic);
  for (const stray of ['home', 'home/drones', 'home/drones/d7/extra/x', 'home/relay/urgent/x', 'home/relay/bulk', 'other/power', 'home/store/alice', 'home/weather', 'home/weather/forecast/x']) {
    assert.equal(parseTopic('home', stray), undefined, stray);
  }
});

test('each tree topic falls in exactly one ACL class besides "other"', () => {
  const t = topicTree('canopy');
  const filters = classFilters('canopy');
  const samples = [t.drone('1'), t.availability('1'), t.droneSet('1'), t.power, t.powerHistory, t.uplink, t.fleet, t.bridgeState, t.event, t.eventHistory, t.request('x'), t.response('x'), t.store('o', 'p'), t.relay('hot', 'd'), t.forecast];
  for (const topic of samples) {
    const classes = TOPIC_CLASSES.filter((c) => c !== 'other' && filters[c].some((f) => topicMatches(f, topic)));
    assert.equal(classes.length, 1, `${topic}: ${classes.join(', ')}`);
  }
});

test('JSON payloads round-trip as UTF-8', () => {
  const value = { status: 'ok', data: { name: 'Ælfrida' }, transaction: 'x1' };
  assert.deepEqual(decodeJson(encodeJson(value)), value);
});

test('relay envelope round-trips and rejects what is not one', () => {
  const body = new Uint8Array([0, 1, 2, 255]);
  const env = encodeEnvelope('phone:42', body);
  assert.deepEqual(decodeEnvelope(env), { id: 'phone:42', body });
  assert.equal(decodeEnvelope(new TextEncoder().encode('plain text')), undefined);
  assert.equal(decodeEnvelope(new Uint8Array([0xff, 0x01, 9, 65])), undefined, 'id longer than the payload');
  assert.equal(decodeEnvelope(new Uint8Array([0xff, 0x02, 1, 65])), undefined, 'unknown version');
  assert.equal(decodeEnvelope(new Uint8Array([0xff, 0x01, 1, 0xc3])), undefined, 'id not UTF-8');
  assert.throws(() => encodeEnvelope('', body), RangeError);
  assert.throws(() => encodeEnvelope('x'.repeat(256), body), RangeError);
});
