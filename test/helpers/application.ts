/** An Application on in-memory links, as the tests build one (controller/app/application.ts). */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { silentLogger } from '../../firmware-bridge/log.ts';
import { Application, type Environment } from '../../controller/app/application.ts';
import { defaultConfig } from '../../controller/config.ts';
import type { MeshUser } from '../../controller/mesh/users.ts';

export function testApplication(env: Partial<Environment> & { clock: Clock; droneLinks: Environment['droneLinks']; users?: MeshUser[] }): Application {
  const config = defaultConfig({ values: { dashboard: false, links: { gcs: [] } }, source: 'the test' });
  return new Application(config, { log: silentLogger, gcsLinks: [], users: [], mesh: { tcp: { host: '127.0.0.1', port: 0 }, ws: false }, ...env });
}
