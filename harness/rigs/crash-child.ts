/**
 * The controller process of the crash trial: mesh + relay on one SQLite file, nothing else.
 * argv: <mesh port> <upstream URL> <upstream topic prefix> <outbox path> <phone password hash>. Says {ready: true} over
 * IPC once it accepts publishes; the parent kills it with SIGKILL and starts it again.
 */
import { Mesh } from '../../controller/mesh/mesh.ts';
import { Relay } from '../../controller/relay/relay.ts';

const [port, upstreamUrl, topicPrefix, path, passwordHash] = process.argv.slice(2);
const mesh = new Mesh({ users: [{ username: 'phone', role: 'phone', passwordHash: passwordHash! }], tcp: { host: '127.0.0.1', port: Number(port) }, ws: false });
await mesh.start();
const relay = new Relay({ mesh, path: path!, origin: 'site', upstream: { url: upstreamUrl!, topicPrefix: topicPrefix!, backoffMs: { initial: 20, max: 200 } } });
await relay.start();
process.send?.({ ready: true });
