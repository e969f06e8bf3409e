/**
 * A mesh with one user per role, cheap scrypt parameters (tests and benches connect hundreds of
 * times) and every listener on a free loopback port.
 */
import { ROLES, type Role } from '../../controller/mesh/acl.ts';
import { Mesh, type MeshOptions } from '../../controller/mesh/mesh.ts';
import { hashPassword, type MeshUser } from '../../controller/mesh/users.ts';

/** username = role name (neighbour "alice" too), password = `${username}-pw`. */
export const USERNAMES: Record<Role, string> = { admin: 'admin', viewer: 'viewer', phone: 'phone', neighbour: 'alice', 'drone-bridge': 'drone-bridge', homeassistant: 'homeassistant' };

export function password(username: string): string {
  return `${username}-pw`;
}

export async function testUsers(extra: { username: string; role: Role }[] = []): Promise<MeshUser[]> {
  const all = [...ROLES.map((role) => ({ username: USERNAMES[role], role })), ...extra];
  return Promise.all(all.map(async (u) => ({ ...u, passwordHash: await hashPassword(password(u.username), { logN: 4, r: 8, p: 1 }) })));
}

export async function startMesh(opts: Partial<MeshOptions> = {}): Promise<{ mesh: Mesh; url: string }> {
  const mesh = new Mesh({
    users: await testUsers([{ username: 'bob', role: 'neighbour' }]),
    tcp: { host: '127.0.0.1', port: 0 },
    ws: false,
    ...opts,
  });
  await mesh.start();
  return { mesh, url: `mqtt://127.0.0.1:${mesh.addresses().tcp}` };
}

export function credentials(role: Role): { username: string; password: string } {
  const username = USERNAMES[role];
  return { username, password: password(username) };
}
