// What the guest cannot know because it has no environment: libpq's PG* variables and the OS
// user name (the same rules as host/src/env.rs and the Python package). The guest reads them,
// applies libpq's precedence and matches password-file lines itself.
import { userInfo } from 'node:os';

/** The OS user as libpq's default user: `$USER`, else `$LOGNAME`, else the passwd entry. */
export function osUser() {
  for (const v of ['USER', 'LOGNAME']) {
    if (process.env[v]) return process.env[v];
  }
  try {
    return userInfo().username || null;
  } catch {
    return null;
  }
}

/** The PG* variables of this process (plus the OS user as PGUSER when that is unset). */
export function defaults(env = process.env) {
  /** @type {Array<[string, string]>} */
  const pairs = [];
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('PG') && v !== undefined) pairs.push([k, v]);
  }
  if (env.PGUSER === undefined) {
    const user = osUser();
    if (user) pairs.push(['PGUSER', user]);
  }
  return pairs;
}
