import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { createLink, parseLinkUrl } from '../../../firmware-bridge/links/index.ts';
import { isCanopyError } from '../../../firmware-bridge/errors.ts';

test('malformed link URLs name the part that is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['/dev/ttyUSB0', /scheme.*missing/],
    ['ftp://host:1', /scheme "ftp"/],
    ['serial:', /device path/],
    ['serial:/dev/ttyUSB0?baud=12345', /baud rate "12345"/],
    ['serial:/dev/ttyUSB0?speed=57600', /parameter "speed"/],
    ['udpin:0.0.0.0:14550', /must follow "udpin:\/\/"/],
    ['tcp://localhost', /address "localhost" is not host:port/],
    ['udpout://127.0.0.1:70000', /port "70000"/],
    ['tcp://127.0.0.1:0', /port "0"/],
  ];
  for (const [url, why] of cases) {
    assert.throws(() => parseLinkUrl(url), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_LINK_URL') && why.test((e as Error).message), url);
  }
  assert.deepEqual(parseLinkUrl('serial:/dev/ttyAMA0'), { kind: 'serial', path: '/dev/ttyAMA0', baud: 57600 });
  assert.deepEqual(parseLinkUrl('udpin://[::1]:14550'), { kind: 'udpin', host: '::1', port: 14550 });
  assert.throws(() => createLink('memory:x'), /createMemoryPair/);
});

test('a serial device that does not exist says so and how to find the radio', async () => {
  const link = createLink('serial:/dev/canopy-no-such-radio?baud=57600');
  await assert.rejects(link.start(), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_SERIAL_NOT_FOUND') && /does not exist/.test((e as Error).message) && /by-id/.test((e as Error).message));
  await link.stop();
});

test('a port in use is reported for udpin and tcpin', async () => {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const udpPort = udp.address().port;
  const udpLink = createLink(`udpin://127.0.0.1:${udpPort}`);
  await assert.rejects(udpLink.start(), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_PORT_IN_USE') && new RegExp(`UDP port ${udpPort}`).test((e as Error).message));
  udp.close();

  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const tcpPort = (server.address() as AddressInfo).port;
  const tcpLink = createLink(`tcpin://127.0.0.1:${tcpPort}`);
  await assert.rejects(tcpLink.start(), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_PORT_IN_USE') && new RegExp(`TCP port ${tcpPort}`).test((e as Error).message));
  await new Promise((r) => server.close(r));
});
