/**
 * `canopy user add NAME [--role ROLE] [--password-file FILE]`, `canopy user remove NAME`,
 * `canopy user list`: the mesh's users in the data directory's `users.json` (scrypt hashes only).
 * A new user's password is read from --password-file or made up and printed once. Canopy reads
 * the file when it starts; restart it to let a new user in.
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { ROLES, isRole } from '../mesh/acl.ts';
import { dataDir, dataDirFrom, defaultConfig, findConfig, loadConfig } from '../config.ts';
import { readNamedFile } from '../named-files.ts';
import { ensureUsers, newPassword, removeUser, setUser } from '../credentials.ts';
import { printCreated } from './start.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      data: { type: 'string' },
      role: { type: 'string', default: 'viewer' },
      'password-file': { type: 'string' },
    },
  });
  const [verb, name, ...extra] = positionals;
  if (extra.length) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `unexpected "${extra.join(' ')}"`);
  // The data directory as `canopy start` finds it: --data, the configuration, CANOPY_DATA, the default.
  const file = values.config ?? findConfig();
  const data = dataDirFrom(values.data, file);
  const overrides = data === undefined ? undefined : { values: { dataDir: data }, source: values.data ? '--data' : 'CANOPY_DATA' };
  const c = file ? loadConfig(file, overrides) : defaultConfig(overrides);
  const dir = dataDir(c);
  const { users, created } = await ensureUsers(dir);
  if (created) printCreated(created);
  switch (verb) {
    case 'list':
      for (const u of users) console.log(`${u.username.padEnd(24)} ${u.role}`);
      return 0;
    case 'add': {
      if (!name) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy user add NAME [--role ROLE]');
      const role = values.role!;
      if (!isRole(role)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--role "${role}": one of ${ROLES.join(', ')}`);
      const fromFile = values['password-file'] !== undefined;
      const password = fromFile ? readPassword(values['password-file']!) : newPassword();
      const r = await setUser(dir, name, role, password);
      console.log(`canopy: ${r.replaced ? 'updated' : 'added'} mesh user "${name}" (${role}) in ${r.file}${fromFile ? '' : `, password "${password}" (shown only now)`}`);
      console.log('canopy: restart Canopy to let the user in');
      return 0;
    }
    case 'remove': {
      if (!name) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy user remove NAME');
      const f = await removeUser(dir, name);
      console.log(`canopy: removed mesh user "${name}" from ${f}; restart Canopy to shut it out`);
      return 0;
    }
    default:
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `canopy user ${verb ?? ''}: use add, remove or list`);
  }
}

function readPassword(path: string): string {
  const password = readNamedFile(path, '--password-file').toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 8) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--password-file: the password must have at least 8 characters`);
  return password;
}
