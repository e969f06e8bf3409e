/**
 * `canopy user add NAME [--role ROLE] [--password-file FILE]`, `canopy user passwd NAME
 * [--password-file FILE]`, `canopy user remove NAME`, `canopy user list`: the mesh's users in the
 * data directory's `users.json` (scrypt hashes only). A password is read from --password-file or
 * made up and printed once. A running Canopy watches the file and takes each change at once.
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { ROLES, isRole, type Role } from '../mesh/acl.ts';
import { dataDir, dataDirFrom, defaultConfig, findConfig, loadConfig } from '../config.ts';
import { readNamedFile } from '../named-files.ts';
import { ensureUsers, newPassword, removeUser, setPassword, setUser } from '../credentials.ts';
import { printCreated } from './start.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      data: { type: 'string' },
      role: { type: 'string' },
      'password-file': { type: 'string' },
    },
  });
  const [verb, name, ...extra] = positionals;
  if (extra.length) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `unexpected "${extra.join(' ')}"`);
  if (values.role !== undefined && verb !== 'add') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--role is for "canopy user add NAME --role ROLE"`);
  // The data directory as `canopy start` finds it: --data, the configuration, CANOPY_DATA, the default.
  const file = values.config ?? findConfig();
  const data = dataDirFrom(values.data, file);
  const overrides = data === undefined ? undefined : { values: { dataDir: data }, source: values.data ? '--data' : 'CANOPY_DATA' };
  const c = file ? loadConfig(file, overrides) : defaultConfig(overrides);
  const dir = dataDir(c);
  const { users, created } = await ensureUsers(dir);
  if (created) printCreated(created);
  const fromFile = values['password-file'] !== undefined;
  const password = () => (fromFile ? readPassword(values['password-file']!) : newPassword());
  const shown = (pw: string) => (fromFile ? '' : `, password "${pw}" (shown only now)`);
  switch (verb) {
    case 'list':
      for (const u of users) console.log(`${u.username.padEnd(24)} ${u.role}`);
      return 0;
    case 'add': {
      if (!name) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy user add NAME [--role ROLE]');
      const role = values.role === undefined ? undefined : checkedRole(values.role);
      const pw = password();
      const r = await setUser(dir, name, pw, role);
      const kept = r.replaced && role === undefined ? ', role kept' : '';
      console.log(`canopy: ${r.replaced ? 'updated' : 'added'} mesh user "${name}" (${r.role}${kept}) in ${r.file}${shown(pw)}`);
      console.log(`canopy: a running Canopy takes it at once${r.replaced ? ' and closes the sessions of the user as it was' : ''}`);
      return 0;
    }
    case 'passwd': {
      if (!name) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy user passwd NAME [--password-file FILE]');
      const pw = password();
      const r = await setPassword(dir, name, pw);
      console.log(`canopy: new password for mesh user "${name}" (${r.role}) in ${r.file}${shown(pw)}`);
      console.log('canopy: a running Canopy takes it at once and closes the sessions that logged in with the old one');
      return 0;
    }
    case 'remove': {
      if (!name) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy user remove NAME');
      const f = await removeUser(dir, name);
      console.log(`canopy: removed mesh user "${name}" from ${f}; a running Canopy closes its sessions at once`);
      return 0;
    }
    default:
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `canopy user ${verb ?? ''}: use add, passwd, remove or list`);
  }
}

function checkedRole(role: string): Role {
  if (!isRole(role)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--role "${role}": one of ${ROLES.join(', ')}`);
  return role;
}

/** The password in FILE (`/dev/stdin` reads a pipe), its one trailing newline dropped. */
function readPassword(path: string): string {
  const password = readNamedFile(path, '--password-file').toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 8) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--password-file: the password must have at least 8 characters`);
  return password;
}
