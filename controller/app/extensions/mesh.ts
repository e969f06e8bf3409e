/** "mesh": the MQTT broker (mesh/mesh.ts), as an extension. */
import type { Mesh } from '../../mesh/mesh.ts';
import type { Extension } from '../extension.ts';

export class MeshExtension implements Extension {
  readonly name = 'mesh';

  constructor(readonly mesh: Mesh) {}

  start(): Promise<void> {
    return this.mesh.start();
  }

  stop(): Promise<void> {
    return this.mesh.stop();
  }
}
