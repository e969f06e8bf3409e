/** What the mesh puts between a socket and aedes (controller/mesh/guard.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { dropWritesAfterClose, PacketSizeGuard } from '../../../controller/mesh/guard.ts';

/** A server-side socket whose client has sent FIN, and what the server side saw since. */
async function serverSideAfterFin(wrap: boolean): Promise<{ socket: Socket; errors: Error[]; close: () => void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = createConnection({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  const socket = await accepted;
  const errors: Error[] = [];
  socket.on('error', (e) => errors.push(e));
  if (wrap) dropWritesAfterClose(socket);
  const ended = new Promise((r) => socket.once('end', r));
  client.end();
  await ended;
  return { socket, errors, close: () => (client.destroy(), socket.destroy(), server.close()) };
}

test('after the peer FIN, writes are dropped quietly instead of each raising "write after end"', async () => {
  const plain = await serverSideAfterFin(false);
  plain.socket.write(Buffer.from([0x30, 0x00]));
  await new Promise((r) => setImmediate(r));
  assert.equal(plain.errors.length, 1, 'node itself: an error per write after FIN');
  plain.close();

  const s = await serverSideAfterFin(true);
  let called = 0;
  for (let i = 0; i < 5; i++) assert.equal(s.socket.write(Buffer.from([0x30, 0x00]), () => called++), true);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.errors, []);
  assert.equal(called, 5, 'each write callback still runs');
  s.close();
});

test('the packet guard follows packets over chunk boundaries and refuses an oversized declared length', () => {
  const g = new PacketSizeGuard({ maxPacketBytes: 1000, preLoginPacketBytes: 100 });
  // CONNECT with 10 body bytes, split in three chunks.
  assert.equal(g.check(Uint8Array.from([0x10])), undefined);
  assert.equal(g.check(Uint8Array.from([10, 0, 0, 0])), undefined);
  assert.equal(g.check(new Uint8Array(7)), undefined);
  assert.equal(g.check(Uint8Array.from([0x30, 0xc8]))?.reason, undefined, 'a length byte with more to come');
  assert.equal(g.check(Uint8Array.from([0x01]))?.reason, 'too-large', '200 bytes before login, limit 100');
  const h = new PacketSizeGuard({ maxPacketBytes: 1000, preLoginPacketBytes: 100 });
  assert.equal(h.check(Uint8Array.from([0x30, 0x00]))?.reason, 'not-connect');
});
